import { useState } from 'preact/hooks'
import { api, call } from '../api.ts'
import { type Session, signIn } from '../session.ts'
import { useSubmit } from '../ui/busy.tsx'
import { ErrorNote } from '../ui/error.tsx'

/** Sign in, or create an account: the first one made on a new Berth is its admin. */
export default function SignIn() {
  const [mode, setMode] = useState<'signin' | 'register'>('signin')
  const { busy, error, onSubmit } = useSubmit(async (form) => {
    const email = String(form.get('email'))
    const password = String(form.get('password'))
    if (mode === 'register') {
      const name = String(form.get('name') ?? '') || undefined
      await call(api().auth.register.$post({ json: { email, password, name } }))
    }
    signIn((await call(api().auth.login.$post({ json: { email, password } }))) as Session)
  })
  const registering = mode === 'register'
  return (
    <main id="main" class="signin">
      <h1>Berth</h1>
      <form onSubmit={onSubmit} aria-label={registering ? 'Create an account' : 'Sign in'}>
        <h2>{registering ? 'Create an account' : 'Sign in'}</h2>
        {registering && (
          <label>
            Name
            <input name="name" autoComplete="name" />
          </label>
        )}
        <label>
          Email
          <input name="email" type="email" required autoComplete="email" />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            required
            minLength={registering ? 8 : undefined}
            autoComplete={registering ? 'new-password' : 'current-password'}
          />
        </label>
        <button type="submit" class="primary" disabled={busy}>
          {registering ? 'Create account' : 'Sign in'}
        </button>
        <ErrorNote error={error} />
      </form>
      <p>
        {registering ? 'Have an account?' : 'New here? The first account becomes the admin.'}{' '}
        <button type="button" class="link" onClick={() => setMode(registering ? 'signin' : 'register')}>
          {registering ? 'Sign in' : 'Create an account'}
        </button>
      </p>
    </main>
  )
}
