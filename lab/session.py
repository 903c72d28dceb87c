"""One run's substrate: the engine lease, the run record, the lab networks, the sinkhole and the
host guard rules, and the teardown that removes them whatever happened (``Lab`` is one scope of it)."""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lab import containment, platform_networks
from lab import engine as engine_mod
from lab.backends.base import Backend, DeployContext, Workload
from lab.backends.docker import DockerBackend
from lab.backends.swarm import SwarmBackend, create_swarm_networks, ensure_swarm
from lab.bookkeeping import RUN_LABEL, RunRecord, new_run_id, reap, reap_tracefs
from lab.containment_book import ContainmentBook
from lab.engine import Engine
from lab.errors import LabError
from lab.images import IMAGE_REPOSITORY, ensure_base_image
from lab.lab import Endpoint, Lab
from lab.networks import LabNetwork, create_lab_networks, create_quarantine_network, slot_of
from lab.paths import LabPaths
from lab.pipeline import ImagePipeline
from lab.quarantine import ContainmentRecord
from lab.waiting import poll
from lab.workload import WorkloadSpec

SINKHOLE_PORTS = (80, 443, 4444, 8080, 24224)  # TCP; UDP: 53 (DNS), 514 and 12201 (log shippers)
SINKHOLE_HOST = 10  # the sinkhole is .10 of the lab internet
# What telemetry shows of the sinkhole: a neutral upstream service. Its container name, script and
# record file are seen by the sensors (destination container names, mounts, command lines), and a
# name saying "sinkhole" would tell a detector which traffic is the adversary's.
SINKHOLE_NAME = "upstream"
SINKHOLE_RECORD = "/var/log/upstream/received.jsonl"
KUBERNETES_BACKENDS = ("kubernetes", "kind")  # "kind" is the kubernetes backend on the run's own kind cluster



class LabSession:
    """One run's lab: engine lease, networks, sinkhole, guard rules, teardown."""

    def __init__(self, run_id: str | None = None, docker_host: str | None = None, paths: LabPaths | None = None,
                 backend: str = "docker") -> None:
        self.run_id = run_id or new_run_id()
        self.paths = paths or LabPaths.default()
        self.docker_host = docker_host
        self.backend_kind = backend
        self.prefix = f"stw-{self.run_id[-6:]}"
        self.engine: Engine
        self.backend: Backend
        self.image = ""
        self.pipeline: ImagePipeline
        self.networks: dict[str, LabNetwork] = {}
        self.sinkhole: Workload | None = None
        self.sinkhole_endpoint = Endpoint(address="", ports=SINKHOLE_PORTS)
        self.record = RunRecord(run_id=self.run_id, pid=0, started_at=time.time())
        self._guarded = False
        self._up = False
        self._swarm: SwarmBackend | None = None  # made on first use: a docker-only run never inits Swarm
        self._swarm_networks: dict[str, LabNetwork] = {}
        self._swarm_lock = threading.Lock()
        self._book: ContainmentBook | None = None
        self._containment_lock = threading.Lock()

    @property
    def host_root(self) -> Path:
        return self.paths.host_root / self.run_id

    def up(self) -> LabSession:
        """Bring the lab up. On any failure, what was made so far is torn down before raising."""
        import os

        self.engine = engine_mod.acquire(self.run_id, self.docker_host, self.paths)
        self._up = True
        try:
            self.record.pid = os.getpid()
            self.record.save(self.paths)
            reap(self.engine.client, self.paths, keep={self.run_id})
            self.backend = self._make_backend()
            self.image = ensure_base_image(self.engine)
            # The platform's pipeline imported the base image: it signs it like everything it builds,
            # and publishes its public key for the detectors.
            self.pipeline = ImagePipeline(self.engine, self.image)
            self.pipeline.sign(self.engine.client.api.inspect_image(self.image)["Id"], IMAGE_REPOSITORY)
            self.pipeline.publish_trust()
            self.networks = create_lab_networks(self.engine.client, self.run_id, self.prefix)
            platform_networks.publish(self.paths, self.networks.values())
            self._guarded = containment.install_guard(self.run_id)
            self._start_sinkhole()
            if self.backend_kind in KUBERNETES_BACKENDS:
                self.backend.start(self)  # type: ignore[attr-defined]  # a ClusterBackend here; only it has start()
        except BaseException:
            self.down(status="failed")
            raise
        return self

    def _make_backend(self) -> Backend:
        if self.backend_kind == "docker":
            return DockerBackend(self.engine.client)
        if self.backend_kind == "swarm":
            return self.swarm()
        if self.backend_kind in KUBERNETES_BACKENDS:
            from lab.kind.provider import ClusterBackend

            return ClusterBackend(self.engine, self.run_id, self.paths)
        raise LabError(f"unknown backend {self.backend_kind!r}: choose docker, swarm or kubernetes")

    def swarm(self) -> SwarmBackend:
        """The swarm backend on the lab engine, initialising Swarm (idempotent, locked) on first use.

        Raises:
            SwarmUnavailable: the engine cannot be a Swarm manager; the message says why.
        """
        with self._swarm_lock:
            if self._swarm is None:
                ensure_swarm(self.engine.client, self.paths)
                self._swarm = SwarmBackend(self.engine.client, self.paths)
            return self._swarm

    def swarm_networks(self) -> dict[str, LabNetwork]:
        backend = self.swarm()
        with self._swarm_lock:
            if not self._swarm_networks:
                self._swarm_networks = create_swarm_networks(backend.client, self.paths, self.run_id, self.prefix)
                platform_networks.publish(self.paths, self._swarm_networks.values(), orchestrated=True)
            return self._swarm_networks

    def backend_named(self, name: str | None) -> Backend:
        if name is None or name == self.backend.name:
            return self.backend
        if name == "docker":
            return DockerBackend(self.engine.client)
        if name == "swarm":
            return self.swarm()
        raise LabError(f"unknown backend {name!r}: choose docker or swarm")

    def _start_sinkhole(self) -> None:
        inet = self.networks["inet"]
        address = inet.host(SINKHOLE_HOST)
        # Mounted from a copy in the run's host directory: the source path of a bind mount is in the
        # container's inspect data, and the repository's path names the sinkhole.
        script = self.host_root / secrets.token_hex(4) / "server.py"
        script.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(__file__).parent / "assets" / "sinkhole_server.py", script)
        backend = DockerBackend(self.engine.client)  # the sinkhole is always a plain container
        ctx = DeployContext(run_id=self.run_id, name=f"{self.prefix}-{SINKHOLE_NAME}", image=self.image,
                            networks=self.networks, labels={RUN_LABEL: self.run_id})
        from lab.workload import Mount

        record_dir = SINKHOLE_RECORD.rsplit("/", 1)[0]
        spec = WorkloadSpec(
            role=SINKHOLE_NAME, networks=("inet",), ip={"inet": address},
            command=("sh", "-c", f"mkdir -p {record_dir} && exec python3 /opt/{SINKHOLE_NAME}/server.py "
                     f"--record {SINKHOLE_RECORD} --address {address}"),
            mounts=(Mount(source=str(script), target=f"/opt/{SINKHOLE_NAME}/server.py", read_only=True),),
        )
        self.sinkhole = backend.deploy(spec, ctx)
        self.sinkhole_endpoint = Endpoint(address=address, ports=SINKHOLE_PORTS)
        if not poll(lambda: any(r.get("head") == "ready" for r in self.sinkhole_records()), 20):
            raise LabError("the sinkhole did not become ready within 20s")

    @property
    def guarded(self) -> bool:
        """Whether the host's iptables guard rules (``lab.containment``) are installed for this run."""
        return self._guarded

    def sinkhole_records(self, peer: str | None = None) -> list[dict[str, Any]]:
        if self.sinkhole is None:
            return []
        result = DockerBackend(self.engine.client).exec(
            self.sinkhole, ["sh", "-c", f"cat {SINKHOLE_RECORD} 2>/dev/null || true"])
        records = []
        for line in result.output.splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if peer is None or record.get("peer") == peer:
                    records.append(record)
        return records

    def scope(self, name: str) -> Lab:
        return Lab(self, name)

    # --- containment (lab.containment_book): what a responder does to a workload, reversibly -----
    def _make_quarantine_network(self) -> LabNetwork:
        return create_quarantine_network(self.engine.client, self.run_id, self.prefix, slot_of(self.networks))

    @property
    def book(self) -> ContainmentBook:
        """The run's containments (made on first use: most runs contain nothing)."""
        with self._containment_lock:
            if self._book is None:
                cluster = self.backend if self.backend_kind in KUBERNETES_BACKENDS else None
                self._book = ContainmentBook(self.engine.client, self.paths, self.run_id,
                                             self._make_quarantine_network, hold_image=self.image, cluster=cluster)
            return self._book

    def quarantine_network(self) -> LabNetwork:
        """The run's quarantine network, created in the run's slot on first use. Only contained
        containers ever join it; it is not one of ``networks`` (nothing deploys on it)."""
        return self.book.quarantine_network()

    def quarantine(self, ref: str) -> ContainmentRecord:
        """Move the container ``ref`` ("container:<id>") off every network onto the run's quarantine
        network; it keeps running (``ContainmentBook.quarantine``)."""
        return self.book.quarantine(ref)

    def pause(self, ref: str) -> ContainmentRecord:
        """Freeze the container ``ref`` (``ContainmentBook.pause``)."""
        return self.book.pause(ref)

    def hold_service(self, ref: str) -> ContainmentRecord:
        """Hold the Swarm service ``ref`` at zero tasks, its spec kept (``ContainmentBook.hold_service``)."""
        return self.book.hold_service(ref)

    def release(self, record: ContainmentRecord) -> ContainmentRecord:
        """Undo a containment exactly (see ``lab.quarantine.release``). Idempotent."""
        return self.book.release(record)

    def hold_pod(self, ref: str, cordon: bool = False) -> ContainmentRecord:
        """Hold a Kubernetes pod: label, NetworkPolicy, freeze, and cordon its node with ``cordon``
        (``ContainmentBook.hold_pod``)."""
        return self.book.hold_pod(ref, cordon)

    def service_of_task(self, container_ref: str, service_refs: Sequence[str]) -> str | None:
        return self.book.service_of_task(container_ref, service_refs)

    def service_containers(self, service_ref: str) -> list[str]:
        return self.book.service_containers(service_ref)

    def can_connect(self, ref: str, address: str, port: int, timeout_s: float = 3.0) -> bool:
        """Whether a TCP connection from inside the container ``ref`` to ``address``:``port`` opens
        (a real attempt, bounded by ``timeout_s``; False for a paused container).

        Raises:
            LabError: the address is outside the lab range and loopback, no such container, or
                nothing in it can open a connection.
        """
        return self.book.can_connect(ref, address, port, timeout_s)

    def pod_can_connect(self, record: ContainmentRecord, address: str, port: int, timeout_s: float = 3.0) -> bool:
        """Whether a TCP connection from the held pod's network namespace to ``address``:``port``
        opens (a real attempt on its node, bounded by ``timeout_s``; its frozen processes untouched).

        Raises:
            LabError: not a Kubernetes run, the address is outside the lab range and loopback, or the
                node could not run the probe.
        """
        return self.book.pod_can_connect(record, address, port, timeout_s)

    @property
    def containments(self) -> list[ContainmentRecord]:
        """Every containment this run made, released or not, oldest first."""
        return [] if self._book is None else self._book.records

    def _release_all(self) -> list[str]:
        """Release whatever this run still holds contained, newest first (teardown)."""
        return [] if self._book is None else self._book.release_all()

    def down(self, status: str = "complete") -> list[str]:
        """Tear down everything this run made. Safe to call twice, and after a partial `up`."""
        if not self._up:
            return []
        self._up = False
        problems: list[str] = []
        try:
            # Before anything is removed: a container this run did not make goes back where it was,
            # and nothing holds the quarantine network when the reaper removes it with the rest.
            problems.extend(self._release_all())
            if self._swarm is not None:
                self._swarm.close(self.run_id)  # services first, and wait for their tasks to go
            close = getattr(getattr(self, "backend", None), "close", None)
            if self.backend_kind in KUBERNETES_BACKENDS and close is not None:
                try:
                    close()  # kind's node carries no run label: delete the cluster before the reap
                except Exception as exc:  # report it, and still reap the rest
                    problems.append(f"cluster teardown: {exc}")
            reap(self.engine.client, self.paths, only={self.run_id})
            self.sinkhole = None
            if self._book is not None:
                self._book.forget_network()
            leftovers = self.leftovers()
            if leftovers:
                problems.append(f"left behind after teardown: {leftovers}")
        except Exception as exc:  # the engine may be gone (stopped under us): host-side cleanup still runs
            problems.append(f"teardown could not reach the engine: {type(exc).__name__}: {exc}")
        finally:
            # Host-side objects need no engine: remove them whatever happened to it.
            platform_networks.withdraw(self.paths, [n.id for n in [*self.networks.values(),
                                                                   *self._swarm_networks.values()]])
            if self._guarded:
                containment.remove_guard(self.run_id)
            reap_tracefs(lambda run: run == self.run_id)
            shutil.rmtree(self.host_root, ignore_errors=True)
            self.record.status = status
            self.record.finished_at = time.time()
            self.record.notes.extend(problems)
            self.record.save(self.paths)
            engine_mod.release(self.engine, self.run_id)
        return problems

    def leftovers(self) -> dict[str, int]:
        client = self.engine.client
        flt: dict[str, str | list[str] | bool] = {"label": f"{RUN_LABEL}={self.run_id}"}
        counts = {
            "containers": len(client.containers.list(all=True, filters=flt, sparse=True)),
            "networks": len(client.networks.list(filters=flt)),
            "volumes": len(client.volumes.list(filters=flt)),
        }
        if self._swarm is not None:
            counts["services"] = len(client.services.list(filters=flt))
        return {k: v for k, v in counts.items() if v}

    def __enter__(self) -> LabSession:
        return self.up()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.down(status="complete" if exc_type is None else "failed")
