import { api, call } from '../../api.ts'
import { useLoad } from '../../load.ts'
import { session } from '../../session.ts'
import { ActionButton, useSubmit } from '../../ui/busy.tsx'
import { ErrorNote } from '../../ui/error.tsx'
import { ago } from '../../ui/format.ts'
import { Table } from '../../ui/table.tsx'

type Role = 'admin' | 'member' | 'viewer'
const ROLES: Role[] = ['admin', 'member', 'viewer']

const listUsers = async () => (await call(api().users.$get({ query: { limit: '200' } }))).users

/** Everyone who can sign in, and what each may do (admins only). */
export default function Users() {
  const users = useLoad(listUsers, [])
  const create = useSubmit(async (form) => {
    const name = String(form.get('name') ?? '').trim()
    await call(
      api().users.$post({
        json: {
          email: String(form.get('email')),
          password: String(form.get('password')),
          role: String(form.get('role')) as Role,
          ...(name ? { name } : {}),
        },
      }),
    )
    ;(document.getElementById('user-form') as HTMLFormElement | null)?.reset()
    await users.reload()
  })
  const change = async (id: string, json: { role?: Role; disabled?: boolean }) => {
    const { user } = await call(api().users[':id'].$patch({ param: { id }, json }))
    users.set((list) => list?.map((u) => (u.id === id ? user : u)))
  }
  const remove = async (id: string, email: string) => {
    if (!confirm(`Delete ${email}? Their sessions and tokens stop working at once.`)) return
    await call(api().users[':id'].$delete({ param: { id } }))
    await users.reload()
  }
  const me = session.value?.user.id
  return (
    <>
      <h1>Users</h1>
      <ErrorNote error={users.error} />
      <Table
        caption="Users"
        columns={['Email', 'Name', 'Role', 'State', 'Since', 'Actions']}
        empty="No users."
      >
        {(users.data ?? []).map((user) => (
          <tr key={user.id}>
            <td>{user.email}</td>
            <td>{user.name ?? '–'}</td>
            <td>
              <RoleSelect
                email={user.email}
                role={user.role}
                onChange={(role) => change(user.id, { role })}
              />
            </td>
            <td>{user.disabled ? 'disabled' : 'active'}</td>
            <td>{ago(user.created_at)}</td>
            <td class="actions">
              <ActionButton
                aria-label={`${user.disabled ? 'Enable' : 'Disable'} ${user.email}`}
                onClick={() => change(user.id, { disabled: !user.disabled })}
              >
                {user.disabled ? 'Enable' : 'Disable'}
              </ActionButton>
              {user.id !== me && (
                <ActionButton
                  class="danger"
                  aria-label={`Delete ${user.email}`}
                  onClick={() => remove(user.id, user.email)}
                >
                  Delete
                </ActionButton>
              )}
            </td>
          </tr>
        ))}
      </Table>
      <form id="user-form" class="panel" onSubmit={create.onSubmit} aria-label="New user">
        <h2>New user</h2>
        <label>
          Email
          <input name="email" type="email" required autoComplete="off" />
        </label>
        <label>
          Name
          <input name="name" autoComplete="off" />
        </label>
        <label>
          Password
          <input name="password" type="password" required minLength={8} autoComplete="new-password" />
        </label>
        <label>
          Role
          <select name="role" defaultValue="member">
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" class="primary" disabled={create.busy}>
          Create user
        </button>
        <ErrorNote error={create.error} />
      </form>
    </>
  )
}

/** A user's role, changed as soon as another is picked; a refusal (the last admin) is shown beside it. */
function RoleSelect({
  email,
  role,
  onChange,
}: {
  email: string
  role: Role
  onChange: (r: Role) => Promise<void>
}) {
  const submit = useSubmit(async (form) => onChange(String(form.get('role')) as Role))
  return (
    <form class="inline-form" onSubmit={submit.onSubmit}>
      <select
        name="role"
        aria-label={`Role of ${email}`}
        value={role}
        disabled={submit.busy}
        onChange={(event) => (event.currentTarget.form as HTMLFormElement).requestSubmit()}
      >
        {ROLES.map((r) => (
          <option key={r} value={r}>
            {r}
          </option>
        ))}
      </select>
      <ErrorNote error={submit.error} />
    </form>
  )
}
