"""Runs a command under a real pseudo-terminal of a set size, as a person at a terminal would.

argv[1] is JSON: {"rows", "cols", "cmd": [...], "steps": [{"wait": text, "write"?: text,
"resize"?: [rows, cols]}], "timeout": s}. Each step waits until its text has appeared in the
output, then resizes the terminal and/or types. Prints all output; exits with the command's code.
"""
import fcntl, json, os, pty, select, struct, sys, termios, time

spec = json.loads(sys.argv[1])
size = lambda rows, cols: struct.pack('HHHH', rows, cols, 0, 0)
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, size(spec['rows'], spec['cols']))
    os.execvp(spec['cmd'][0], spec['cmd'])

out = b''
steps = list(spec.get('steps', []))
deadline = time.time() + spec.get('timeout', 30)
seen = 0
while time.time() < deadline:
    ready, _, _ = select.select([fd], [], [], 0.2)
    if ready:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    while steps and steps[0]['wait'].encode() in out[seen:]:
        step = steps.pop(0)
        seen = out.index(step['wait'].encode(), seen) + len(step['wait'])
        if 'resize' in step:
            fcntl.ioctl(fd, termios.TIOCSWINSZ, size(*step['resize']))
        if 'write' in step:
            os.write(fd, step['write'].encode())
else:
    os.kill(pid, 9)
sys.stdout.write(out.decode(errors='replace'))
sys.stdout.flush()
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status) if hasattr(os, 'waitstatus_to_exitcode') else status >> 8)
