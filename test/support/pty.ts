import { execFile } from 'node:child_process'
import { ROOT } from './process.ts'

// A real pseudo-terminal from Python's pty module: the program sees a TTY on stdin and stdout, as
// in a user's terminal, and each reply is typed once its prompt has appeared.
const DRIVER = `
import fcntl, json, os, pty, select, struct, sys, termios
argv, replies, size = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
winsize = lambda rows, cols: struct.pack("HHHH", rows, cols, 0, 0)
pid, fd = pty.fork()
if pid == 0:
    if size:
        fcntl.ioctl(0, termios.TIOCSWINSZ, winsize(size["rows"], size["cols"]))
    os.execvp(argv[0], argv)
out, seen, i = b"", 0, 0
while True:
    ready, _, _ = select.select([fd], [], [], 30)
    if not ready:
        break
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
    while i < len(replies) and replies[i][0].encode() in out[seen:]:
        seen = out.index(replies[i][0].encode(), seen) + len(replies[i][0])
        reply = replies[i][1]
        if isinstance(reply, str):
            os.write(fd, reply.encode() + b"\\r")
        else:
            if "resize" in reply:
                fcntl.ioctl(fd, termios.TIOCSWINSZ, winsize(*reply["resize"]))
            if "keys" in reply:
                os.write(fd, reply["keys"].encode())
        i += 1
_, status = os.waitpid(pid, 0)
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "output": out.decode("utf8", "replace")}))
`

export interface PtyRun {
  code: number
  /** Everything the terminal showed: the program's output and what the terminal echoed. */
  output: string
}

/**
 * What is done once a prompt shows: a line typed (with Enter), or keys typed as they are
 * (`\u0003` is Ctrl-C) and/or the terminal resized to `[rows, cols]`.
 */
export type Reply = string | { keys?: string; resize?: [rows: number, cols: number] }

/**
 * Runs `argv` on a pseudo-terminal (of `size`, else the driver's), doing each `[prompt, reply]`'s
 * reply once its prompt shows.
 */
export function onTerminal(
  argv: string[],
  replies: [prompt: string, reply: Reply][],
  env: Record<string, string | undefined>,
  size?: { rows: number; cols: number },
): Promise<PtyRun> {
  return new Promise((resolve, reject) => {
    execFile(
      'python3',
      ['-c', DRIVER, JSON.stringify(argv), JSON.stringify(replies), JSON.stringify(size ?? null)],
      { cwd: ROOT, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`the terminal driver failed: ${stderr || err.message}`))
        else resolve(JSON.parse(stdout) as PtyRun)
      },
    )
  })
}
