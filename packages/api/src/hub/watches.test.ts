import { describe, expect, test } from 'vitest'
import { DeploymentWatches } from './watches.ts'

/** A watch that counts what it heard. */
function counter() {
  const heard = { written: 0, inPlace: 0 }
  const watch = {
    written: () => heard.written++,
    inPlace: () => heard.inPlace++,
    lost: () => {},
  }
  return { heard, watch }
}

const settled = () => new Promise((resolve) => setTimeout(resolve, 0))

describe('watches of deployments', () => {
  test('each watch of a deployment hears its writes, and only its own', async () => {
    const watches = new DeploymentWatches()
    const a = counter()
    const b = counter()
    const other = counter()
    watches.add('dep_a', a.watch, true)
    watches.add('dep_a', b.watch, true)
    watches.add('dep_b', other.watch, true)
    watches.written('dep_a')
    await settled()
    expect(a.heard).toEqual({ written: 1, inPlace: 1 })
    expect(b.heard).toEqual({ written: 1, inPlace: 1 })
    expect(other.heard).toEqual({ written: 0, inPlace: 1 })
  })

  test('a watch where other processes may write is never in place', async () => {
    const watches = new DeploymentWatches()
    const { heard, watch } = counter()
    watches.add('dep_a', watch, false)
    watches.written('dep_a')
    await settled()
    expect(heard).toEqual({ written: 1, inPlace: 0 })
  })

  test('an ended watch hears nothing, and the last one ended leaves nothing held', async () => {
    const watches = new DeploymentWatches()
    const { heard, watch } = counter()
    const end = watches.add('dep_a', watch, true)
    end()
    watches.written('dep_a')
    await settled()
    expect(heard).toEqual({ written: 0, inPlace: 0 })
    expect(watches.size).toBe(0)
  })
})
