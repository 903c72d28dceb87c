"""The platform's image pipeline builds an image whose RUN step installs a tool and a service account."""

from __future__ import annotations

import secrets

from lab import BuildRecipe, Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario

DOCKERFILE = """\
FROM {base}
LABEL org.opencontainers.image.source="https://git.internal.example/platform/images/reports-tools"
ARG BUILD_ID
RUN sleep 2 \\
 && install -m 0755 /usr/bin/env /usr/local/bin/report-render \\
 && /usr/local/bin/report-render true \\
 && useradd --system --no-create-home --shell /usr/sbin/nologin reports \\
 && echo "$BUILD_ID" > /usr/local/share/reports-tools.build \\
 && sleep 3
CMD ["sleep", "infinity"]
"""


class BuildPackageInstall(Scenario):
    id = "docker.drop.build-package-install"
    title = "The platform's pipeline builds an image whose RUN step installs a tool and a service account"
    kind = Kind.BENIGN
    techniques = ("T1105", "T1136.001")
    expect = Expectation(silent=("stowaway.host.drop-and-execute", "stowaway.host.fim-account-db"), window_s=10)
    twin = "docker.drop.drop-execute"
    tags = ("drop", "build")
    description = (
        "The platform's image pipeline builds an image from the base with BuildKit (no network), the way "
        "it builds everything: its RUN step installs a program into /usr/local/bin, runs its post-install "
        "check, and adds a system user to /etc/passwd, as a package install does. BuildKit runs the step "
        "inside the engine's builder, not as an engine container. Each run builds afresh (a new build id "
        "in the recipe), so the step really runs under watch. The pipeline signs the result; the scenario "
        "then runs it and checks the image has the user and the tool."
    )

    def detonate(self, lab: Lab) -> None:
        recipe = BuildRecipe.of("platform/reports-tools",
                                DOCKERFILE.replace("ARG BUILD_ID", f"ARG BUILD_ID={secrets.token_hex(6)}"))
        lab.action("the pipeline builds an image whose RUN step installs a tool and a user")
        image = lab.platform_image(recipe, keep=False)
        built = lab.deploy(WorkloadSpec(role="reports-tools", image=image, command=()))
        lab.exec(built, "sh", "-c", "id reports && test -x /usr/local/bin/report-render")
