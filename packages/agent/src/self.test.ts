import { describe, expect, test } from 'vitest'
import { containerIdOf } from './self.ts'

const ID = 'f31dfc071f512d8bc45ddd6a2420b710985589576e5c8f6df52ee7abcfd94193'

describe('containerIdOf', () => {
  test('finds the container from the files Docker mounts into it', () => {
    const mountinfo = [
      '22 27 0:21 / /proc rw,relatime - proc proc rw',
      `126 109 254:0 /var/lib/docker/containers/${ID}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw`,
      `127 109 254:0 /var/lib/docker/containers/${ID}/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw`,
    ].join('\n')
    expect(containerIdOf(mountinfo)).toBe(ID)
  })

  test('is null on the host itself', () => {
    expect(containerIdOf('22 27 0:21 / /proc rw,relatime - proc proc rw\n')).toBeNull()
  })
})
