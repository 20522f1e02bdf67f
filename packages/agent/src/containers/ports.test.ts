import { describe, expect, it } from 'vitest'
import { DockerError } from '../docker/index.ts'
import { portConflictOf } from './ports.ts'

describe('portConflictOf', () => {
  it("names the host port of Docker's refusals to bind it", () => {
    const allocated = new DockerError(
      'driver failed programming external connectivity on endpoint web: Bind for 0.0.0.0:24567 failed: port is already allocated',
      500,
    )
    const inUse = new DockerError(
      'driver failed programming external connectivity on endpoint web: Error starting userland proxy: listen tcp6 [::]:24568: bind: address already in use',
      500,
    )
    expect(portConflictOf(allocated)).toMatchObject({ kind: 'conflict', details: { port: 24567 } })
    expect(portConflictOf(inUse)).toMatchObject({
      kind: 'conflict',
      message: expect.stringMatching(/^host port 24568 is already in use: /),
      details: { port: 24568 },
    })
  })

  it('leaves any other failure to start alone', () => {
    expect(portConflictOf(new DockerError('exec: "sh": executable file not found in $PATH', 400))).toBeNull()
    expect(portConflictOf(new Error('port is already allocated'))).toBeNull()
  })
})
