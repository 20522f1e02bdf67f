import { ContainersTable } from '../ui/containers-table.tsx'

/** Every server's containers in one table. */
export default function Containers() {
  return (
    <>
      <h1>Containers</h1>
      <ContainersTable />
    </>
  )
}
