"""`make iam-docs`: plan envs/dev against a throwaway patched moto server and render every policy to docs/iam/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from infractl import iamdocs  # noqa: E402

from devtools.infra_copy import INFRA_BIN, copy_infra, import_certificate, tf_env  # noqa: E402
from devtools.servers import start_moto  # noqa: E402


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="iam-docs-") as tmp:
        moto = start_moto(Path(tmp) / "moto")
        try:
            infra = copy_infra(Path(tmp) / "infra")
            env = tf_env({
                "INFRA_DIR": str(infra), "AWS_ENDPOINT_URL": moto.url, "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                "TF_VAR_certificate_arn": import_certificate(moto.url),
            })  # fmt: skip
            print("==> emulated plan of envs/dev (throwaway moto)", file=sys.stderr, flush=True)
            r = subprocess.run(
                [INFRA_BIN, "--emulated", "plan", "dev"], env=env, cwd=REPO, stdout=subprocess.DEVNULL
            )
            if r.returncode != 0:
                print(
                    "iam-docs: the emulated plan failed; run `infra --emulated plan dev` to see why",
                    file=sys.stderr,
                )
                return r.returncode
            plan = json.loads((infra / "envs" / "dev" / ".infra" / "plan.json").read_text())
        finally:
            moto.stop()
    for path in iamdocs.write(REPO / "docs" / "iam", iamdocs.render("dev", plan)):
        print(f"wrote {path.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    os.chdir(REPO)
    sys.exit(main())
