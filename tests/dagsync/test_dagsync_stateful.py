"""hypothesis stateful test: random remote puts, same-size overwrites, deletes, manifest commits and hostile keys,
interleaved with sync cycles with and without injected S3 faults, against the moto server and the real FS.

Invariants: after a successful cycle DIR equals the remote (or manifest) view; after a failed cycle DIR equals the
previously published view; nothing ever appears next to DIR except its state dir; DIR never shows a partial tree.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from dagsync.keys import filter_keys
from tests.support.dagsync import SyncLoop, settings_for, tree

# "x" vs "x/y.py": file/dir conflict; the two "café" spellings collide only when both exist.
RELS = ["a.py", "b.py", "d/c.py", "d/e/f.py", "x", "x/y.py", "caf\u00e9.py", "cafe\u0301.py"]
BODIES = [b"aaaa", b"bbbb", b"cccc", b"zz", b""]  # several of the same size: same-size edits
HOSTILE = ["dags/../up.py", "dags//abs.py", "dags/a/./b.py", "dags/ctl\x07.py"]  # unsafe on their own
FAULTS = [
    None,
    ("GetObject", "500", 1),
    ("ListObjectsV2", "503", 1),
    ("GetObject", "reset", 1),
    ("GetObject", "503", None),
    ("ListObjectsV2", "500", None),
]


def test_stateful_sync(s3, proxy, tmp_path_factory) -> None:
    class Machine(RuleBasedStateMachine):
        @initialize()
        def setup(self) -> None:
            self.bucket = f"sm-{uuid.uuid4().hex[:12]}"
            s3.create_bucket(Bucket=self.bucket)
            self.root = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp()))
            self.dest = self.root / "dags"
            # one long-lived sidecar: manifest-first cycles (conditional GET) with a safety-net LIST every 3rd
            self.loop = SyncLoop(
                settings_for(self.bucket, self.dest, max_attempts=2, read_timeout=2, list_every=3)
            )
            self.remote: dict[str, bytes] = {}
            self.manifest: dict[str, bytes] | None = None
            self.published: dict[str, bytes] = {}
            self.cycles = 0

        def teardown(self) -> None:
            proxy.clear()
            if hasattr(self, "loop"):
                self.loop.close()
            shutil.rmtree(self.root, ignore_errors=True)

        @rule(rel=st.sampled_from(RELS), body=st.sampled_from(BODIES))
        def put(self, rel: str, body: bytes) -> None:
            s3.put_object(Bucket=self.bucket, Key="dags/" + rel, Body=body)
            self.remote[rel] = body

        @precondition(lambda self: self.remote)
        @rule(data=st.data())
        def delete(self, data: st.DataObject) -> None:
            rel = data.draw(st.sampled_from(sorted(self.remote)))
            s3.delete_object(Bucket=self.bucket, Key="dags/" + rel)
            del self.remote[rel]

        @rule(key=st.sampled_from(HOSTILE))
        def hostile(self, key: str) -> None:
            s3.put_object(Bucket=self.bucket, Key=key, Body=b"evil")

        @rule()
        def commit_manifest(self) -> None:
            files = {
                rel: {"sha256": hashlib.sha256(b).hexdigest(), "size": len(b)}
                for rel, b in self.remote.items()
            }
            doc = {"version": 1, "commit": uuid.uuid4().hex, "files": files}
            s3.put_object(Bucket=self.bucket, Key="dags/_manifest.json", Body=json.dumps(doc).encode())
            self.manifest = dict(self.remote)

        @precondition(lambda self: self.manifest is not None)
        @rule()
        def drop_manifest(self) -> None:
            s3.delete_object(Bucket=self.bucket, Key="dags/_manifest.json")
            self.manifest = None

        @rule(fault=st.sampled_from(FAULTS))
        def cycle(self, fault) -> None:
            proxy.clear()
            if fault:
                proxy.add(fault[0], fault[1], times=fault[2])
            res = self.loop.cycle()
            proxy.clear()
            self.cycles += 1
            view = self.remote if self.manifest is None else self.manifest
            safe = filter_keys(view).safe
            expected = {rel: view[rel] for rel in safe}
            # a manifest is publishable when each safe file is in the bucket as listed, or already held locally
            expect_ok = self.manifest is None or all(
                self.remote.get(rel) == body or self.published.get(rel) == body
                for rel, body in expected.items()
            )
            if fault and fault[0] == "ListObjectsV2" and fault[2] is None and res.check == "list":
                expect_ok = False  # a cycle that LISTs cannot work without a listing
            if not expect_ok:
                assert not res.ok, f"cycle should have failed: {res}"
            if res.ok:
                assert tree(self.dest) == expected
                self.published = expected
            else:
                assert fault or not expect_ok, f"unexpected failure: {res.error_kind}: {res.error}"
                assert tree(self.dest) == self.published

        @invariant()
        def nothing_outside(self) -> None:
            if hasattr(self, "root"):
                assert set(os.listdir(self.root)) <= {"dags", ".dagsync-dags"}
                assert tree(self.dest) == self.published  # DIR only changes in a successful cycle

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=6,
            stateful_step_count=16,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
