import { Subnet } from '../cidr.js';
import type { Network, Service, Task } from '../types.js';

/** A network as `docker network inspect` prints it, so jq scripts written for docker carry over. */
export function dockerNetwork(network: Network): Record<string, unknown> {
  return {
    Name: network.name,
    Id: network.id,
    Created: network.createdAt,
    Scope: network.scope,
    Driver: network.driver,
    EnableIPv6: network.subnets.some((s) => Subnet.parse(s.subnet).family === 6),
    IPAM: {
      Driver: 'default',
      Options: null,
      Config: network.subnets.map((s) => ({
        Subnet: s.subnet,
        ...(s.ipRange ? { IPRange: s.ipRange } : {}),
        Gateway: s.gateway,
        ...(Object.keys(s.auxAddresses).length > 0 ? { AuxiliaryAddresses: s.auxAddresses } : {}),
      })),
    },
    Internal: network.internal,
    Attachable: network.attachable,
    Ingress: false,
    Containers: null,
    Options: network.options,
    Labels: network.labels,
  };
}

/** A service as `docker service inspect` prints it (the parts kvkit models). */
export function dockerService(service: Service): Record<string, unknown> {
  return {
    ID: service.id,
    CreatedAt: service.createdAt,
    Spec: {
      Name: service.name,
      TaskTemplate: {
        ContainerSpec: { Image: service.image ?? '' },
        Networks: service.networks.map((Target) => ({ Target })),
      },
      Mode: { Replicated: { Replicas: service.replicas } },
      EndpointSpec: { Mode: service.endpointMode },
    },
    Endpoint: {
      Spec: { Mode: service.endpointMode },
      VirtualIPs: service.virtualIps.map((v) => ({ NetworkID: v.networkId, Addr: v.addr })),
    },
  };
}

/** One task line of `service ps --format json`. */
export function dockerTask(
  task: Task,
  serviceName: string,
  image: string | undefined,
): Record<string, unknown> {
  return {
    ID: task.id,
    Name: `${serviceName}.${task.slot}`,
    Image: image ?? '',
    DesiredState: task.desiredState,
    CurrentState: task.state,
    // docker shows the error of a task that failed or could not be placed.
    Error:
      task.state === 'new' ||
      task.state === 'failed' ||
      task.state === 'rejected' ||
      task.message.startsWith('no suitable node')
        ? task.message
        : '',
    Message: task.message,
    Addresses: task.attachments.flatMap((a) => a.addresses),
  };
}
