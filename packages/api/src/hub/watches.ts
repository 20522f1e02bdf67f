import type { DeploymentWatch } from './hub.ts'

/** The watches of deployments held where their writes are made: a NodeHub, or a server's AgentHub. */
export class DeploymentWatches {
  private readonly byDeployment = new Map<string, Set<DeploymentWatch>>()

  /** Adds a watch; it hears `inPlace` first when every write of the deployment is made where this is. */
  add(deploymentId: string, watch: DeploymentWatch, soleWriter: boolean): () => void {
    let watches = this.byDeployment.get(deploymentId)
    if (!watches) {
      watches = new Set()
      this.byDeployment.set(deploymentId, watches)
    }
    watches.add(watch)
    const held = watches
    queueMicrotask(() => {
      if (soleWriter && held.has(watch)) watch.inPlace()
    })
    return () => {
      held.delete(watch)
      if (held.size === 0 && this.byDeployment.get(deploymentId) === held)
        this.byDeployment.delete(deploymentId)
    }
  }

  written(deploymentId: string): void {
    for (const watch of this.byDeployment.get(deploymentId) ?? []) watch.written()
  }

  /** Deployments watched here. */
  get size(): number {
    return this.byDeployment.size
  }
}
