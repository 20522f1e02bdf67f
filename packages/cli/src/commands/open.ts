import { positionals } from '../args.ts'
import type { Command } from '../command.ts'
import { show } from '../output.ts'

const open: Command = {
  name: 'open',
  summary: "Print the URL of the profile's dashboard",
  usage: '',
  examples: ['berth open', 'xdg-open "$(berth open)"', 'berth open --profile staging --json'],
  options: {},
  async run(ctx, args) {
    positionals(args, [])
    const url = `${(await ctx.client()).origin}/`
    show(ctx, { url }, () => ctx.stdout.write(`${url}\n`))
  },
}

export const commands = [open]
