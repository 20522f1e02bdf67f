import { type BerthClient, openTerminal } from '@berth/client'
import { FitAddon } from '@xterm/addon-fit'
import { Terminal } from '@xterm/xterm'
import '@xterm/xterm/css/xterm.css'

// xterm.js over the exec WebSocket. This module (and xterm with its stylesheet, a file of its own
// that the page's policy allows) is loaded only when a terminal is opened.

export interface TerminalSession {
  /** The process's exit code; rejects with the BerthError of a terminal the API ended. */
  exit: Promise<number>
  /** Ends the process and takes the terminal off the page. */
  dispose(): void
}

/** Opens a tty exec of the container's shell in `el`, sized to fit it and resized with it. */
export async function startTerminal(
  el: HTMLElement,
  endpoint: BerthClient,
  path: string,
): Promise<TerminalSession> {
  const style = getComputedStyle(document.documentElement)
  const term = new Terminal({
    cursorBlink: true,
    fontSize: 14,
    fontFamily: 'ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace',
    theme: {
      background: style.getPropertyValue('--term-bg').trim() || '#111',
      foreground: style.getPropertyValue('--term-fg').trim() || '#eee',
    },
  })
  const fit = new FitAddon()
  term.loadAddon(fit)
  term.open(el)
  fit.fit()
  let exec: Awaited<ReturnType<typeof openTerminal>>
  try {
    exec = await openTerminal(endpoint, path, { query: { tty: true, cols: term.cols, rows: term.rows } })
  } catch (err) {
    term.dispose()
    throw err
  }
  exec.onData((bytes) => term.write(bytes))
  const input = term.onData((data) => exec.write(data))
  const resized = term.onResize(({ cols, rows }) => exec.resize(cols, rows))
  const observer = new ResizeObserver(() => fit.fit())
  observer.observe(el)
  term.focus()
  const stop = () => {
    observer.disconnect()
    input.dispose()
    resized.dispose()
  }
  // The output stays on screen after the process ends, with its exit code beside it.
  exec.exit.then(stop, stop)
  return {
    exit: exec.exit,
    dispose() {
      stop()
      exec.close()
      term.dispose()
    },
  }
}
