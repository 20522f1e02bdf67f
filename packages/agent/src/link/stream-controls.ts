import type { ToAgent } from '@berth/shared'

/** Frames the API sends a running stream besides `cancel`. */
export type StreamControl = Extract<ToAgent, { type: 'input' | 'resize' | 'signal' }>
type ControlOf<T extends StreamControl['type']> = Extract<StreamControl, { type: T }>
type Listeners = { [T in StreamControl['type']]?: (frame: ControlOf<T>) => void }

/** Frames held for a handler that does not listen yet; beyond this they are dropped. */
const MAX_HELD = 1024

/**
 * Hands a stream's control frames to its handler. Frames that come before the handler listens for
 * their type (input typed while the exec is being created) are held and handed over when it does.
 */
export class StreamControls {
  private held: StreamControl[] = []
  private readonly listeners: Listeners = {}

  deliver(frame: StreamControl): void {
    const listener = this.listeners[frame.type] as ((frame: StreamControl) => void) | undefined
    if (listener) listener(frame)
    else if (this.held.length < MAX_HELD) this.held.push(frame)
  }

  listen<T extends StreamControl['type']>(type: T, listener: (frame: ControlOf<T>) => void): void {
    ;(this.listeners as Record<T, (frame: ControlOf<T>) => void>)[type] = listener
    const waiting = this.held.filter((frame): frame is ControlOf<T> => frame.type === type)
    this.held = this.held.filter((frame) => frame.type !== type)
    for (const frame of waiting) listener(frame)
  }
}
