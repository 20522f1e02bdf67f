#!/usr/bin/env bash
# Runs every e2e test of the given files (default: all of test/) alone, one `vitest -t` each, so a
# test that leans on another's leftovers fails here. Slow by design; not part of `npm test`.
# Prints one line per test and a closing count; exits 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
files=("$@")
[ ${#files[@]} -eq 0 ] && files=(test/*.test.ts)
log=$(mktemp)
passed=0
failed=0
for file in "${files[@]}"; do
  # Each test's full name (describe and test titles), and the -t pattern that matches it alone.
  while IFS=$'\t' read -r name pattern; do
    [ -z "$name" ] && continue
    if nice -n 10 npx vitest run --config test/vitest.config.ts --project e2e "$file" -t "$pattern" >"$log" 2>&1 &&
      grep -qE 'Tests +.*1 passed' "$log"; then
      passed=$((passed + 1))
      echo "pass  $file > $name"
    else
      failed=$((failed + 1))
      echo "FAIL  $file > $name"
      tail -n 40 "$log" | sed 's/^/      /'
    fi
  done < <(node -e '
    const src = require("fs").readFileSync(process.argv[1], "utf8")
    const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
    let suite = ""
    for (const line of src.split("\n")) {
      const m = line.match(/^(\s*)(describe|test)\((["`'"'"'])(.*?)\3,/)
      if (!m) continue
      const title = m[4].replace(/\\(.)/g, "$1")
      if (m[2] === "describe") suite = title
      else {
        const full = m[1] === "" ? title : `${suite} ${title}`
        console.log(`${full}\t^${esc(full)}$`)
      }
    }' "$file")
done
rm -f "$log"
echo "$passed passed alone, $failed failed alone"
[ "$failed" -eq 0 ]
