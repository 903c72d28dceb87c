"""An image build stage installs a package: new programs and a service account, declared in policy."""

from __future__ import annotations

import contextlib
import io
import re
import secrets

from lab import Lab, Workload, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario

DOCKERFILE = """\
FROM {base}
LABEL org.opencontainers.image.source="https://git.internal.example/platform/images/reports-tools"
RUN sleep 2 \\
 && install -m 0755 /usr/bin/env /usr/local/bin/report-render \\
 && /usr/local/bin/report-render true \\
 && useradd --system --no-create-home --shell /usr/sbin/nologin reports \\
 && sleep 3
"""


class BuildPackageInstall(Scenario):
    id = "docker.drop.build-package-install"
    title = "Declared image build step installs a tool and a service account"
    kind = Kind.BENIGN
    techniques = ("T1105", "T1136.001")
    expect = Expectation(silent=("stowaway.host.drop-and-execute", "stowaway.host.fim-account-db"), window_s=10)
    twin = "docker.drop.drop-execute"
    tags = ("drop", "build")
    description = (
        "Builds an image from the base with the classic builder, whose RUN step is a container: it "
        "installs a program into /usr/local/bin, runs its post-install check, and adds a system user "
        "to /etc/passwd, as a package install does. The Dockerfile carries the image pipeline's "
        "source label, which detectors/policy/declared_changes.yaml declares. The build-step "
        "container is kept until the end so the harness can attribute anything raised on it; the "
        "scenario checks the built image has the user and the tool."
    )

    def detonate(self, lab: Lab) -> None:
        client = lab.engine.client
        tag = f"reports-tools:{secrets.token_hex(4)}"
        lab.action("build an image whose RUN step installs a tool and a user")
        dockerfile = io.BytesIO(DOCKERFILE.format(base=lab.image).encode())
        _, logs = client.images.build(fileobj=dockerfile, tag=tag, rm=False, forcerm=False, network_mode="none")
        lab.cleanup(f"remove image {tag}", lambda: _remove_image(client, tag))
        for line in logs:
            match = re.search(r"Running in ([0-9a-f]{12})", line.get("stream", ""))
            if match:
                step = client.containers.get(match.group(1))
                lab.track(Workload(id=step.id, name=step.name, kind="container", backend="docker",
                                   container_ids=[step.id]))
                lab.cleanup(f"remove build container {step.id[:12]}", lambda s=step: s.remove(force=True))
        built = lab.deploy(WorkloadSpec(role="reports-tools", image=tag))
        lab.exec(built, "sh", "-c", "id reports && test -x /usr/local/bin/report-render")


def _remove_image(client: object, tag: str) -> None:
    with contextlib.suppress(Exception):  # already gone is fine
        client.images.remove(tag, force=True)  # type: ignore[attr-defined]
