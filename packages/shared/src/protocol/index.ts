// The wire contract between API and agent: the ops an agent answers, the frames either side
// sends, and the link's constants.
export * from './frames.ts'
export * from './link.ts'
export * from './ops.ts'
export * from './tunnel.ts'
