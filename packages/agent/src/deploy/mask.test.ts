import { describe, expect, it } from 'vitest'
import { DeployJob, type JobFrame, MAX_JOB_LINES, MAX_LINE_BYTES } from './job.ts'
import { masker } from './mask.ts'

describe('masking', () => {
  it('replaces every secret of 3 characters or more, and the password of any URL', () => {
    const mask = masker(['hunter2', 'ab', '', 'p4ss'])
    expect(mask('login with hunter2 or p4ss, not ab')).toBe('login with **** or ****, not ab')
    expect(mask('cloning https://deploy:tok3n@git.example.com/app.git')).toBe(
      'cloning https://deploy:****@git.example.com/app.git',
    )
    expect(mask('ssh://git@example.com/app.git and https://example.com/x')).toBe(
      'ssh://git@example.com/app.git and https://example.com/x',
    )
  })

  it('masks a secret that contains another one whole, and an ssh key line by line', () => {
    const key =
      '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQyNTUxOQAAACD\n-----END OPENSSH PRIVATE KEY-----\n'
    const mask = masker(['abc', 'abcdef', key])
    expect(mask('abcdef abc')).toBe('**** ****')
    expect(mask('key line: QyNTUxOQAAACD')).toBe('key line: ****')
    expect(mask('regex characters (.*) stay as they are')).toBe('regex characters (.*) stay as they are')
  })
})

describe('a job log', () => {
  const jobWith = (secrets: string[] = []) => {
    const frames: JobFrame[] = []
    const job = new DeployJob('dep_test', masker(secrets), (f) => frames.push(f))
    return { job, frames }
  }

  it('masks, splits and numbers lines from 0, and sends them in batches', async () => {
    const { job, frames } = jobWith(['s3cret'])
    job.log('system', 'first\nsecond with s3cret\r\n\nprogress 10%\rprogress 100%')
    const writer = job.lineWriter('stdout')
    writer.write('half a ')
    writer.write(Buffer.from('line\nrest'))
    writer.end()
    expect(frames).toEqual([])
    await new Promise((resolve) => setTimeout(resolve, 150))
    expect(frames).toHaveLength(1)
    expect(frames[0]?.data?.logs).toEqual([
      { seq: 0, at: expect.any(Number), stream: 'system', text: 'first' },
      { seq: 1, at: expect.any(Number), stream: 'system', text: 'second with ****' },
      { seq: 2, at: expect.any(Number), stream: 'system', text: 'progress 100%' },
      { seq: 3, at: expect.any(Number), stream: 'stdout', text: 'half a line' },
      { seq: 4, at: expect.any(Number), stream: 'stdout', text: 'rest' },
    ])
  })

  it('cuts long lines to 4 KB, sends 200 lines at once, and keeps the last 10 000', () => {
    const { job, frames } = jobWith()
    job.log('stdout', 'é'.repeat(5000))
    const cut = job.status().logs?.[0]?.text ?? ''
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(MAX_LINE_BYTES)
    expect(cut.endsWith('é…')).toBe(true)
    for (let i = 1; i < 200; i++) job.log('stdout', `line ${i}`)
    expect(frames).toHaveLength(1)
    expect(frames[0]?.data?.logs).toHaveLength(200)
    for (let i = 200; i < MAX_JOB_LINES + 1000; i++) job.log('stdout', `line ${i}`)
    const logs = job.status().logs ?? []
    expect(logs).toHaveLength(MAX_JOB_LINES)
    expect(logs.at(-1)?.seq).toBe(MAX_JOB_LINES + 999)
    job.finish('cancelled')
  })

  it('sends a frame on every change of state, with what was logged before it first', () => {
    const { job, frames } = jobWith()
    job.move('cloning')
    job.log('system', 'cloning')
    job.note({ commit: { sha: 'abc', message: 'm' } })
    job.finish('failed', { reason: 'no' })
    expect(frames.map((f) => [f.state, Object.keys(f.data ?? {})])).toEqual([
      ['cloning', []],
      ['cloning', ['logs']],
      ['cloning', ['commit']],
      ['failed', ['reason']],
    ])
    expect(job.status()).toMatchObject({ state: 'failed', reason: 'no', commit: { sha: 'abc' } })
  })
})
