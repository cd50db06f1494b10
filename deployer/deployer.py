"""The release sequence: approved package -> staging -> smoke test -> (promotion) -> prod + table; rollback.

`Deployer(backend, config)` is what the Lambda, `myflix deploy ...` and `myflix registry
approve|reject` all run. Its record of each release is the endpoint's tags (deployer.release
TAG_*): which package an endpoint serves, since when, the smoke test's verdict and why, and (on
prod) what it served before. Order on prod: the endpoint moves first, then the table is pointed
at that package's data (docs/CONTRACTS.md, "Releases"); staging never touches the table.

One release at a time: stage, promote and rollback run under the backend's release lock (locally
a file lock; on AWS the endpoint's own state: a smoke test counts only if staging still serves
the config it deployed when the test ends). The smoke test exercises what the release serves:
the table's data files, read and indexed by the API's own code (`Backend.check_table`), then
every smoke movie through the endpoint. Whatever goes wrong in it (a model that does not load, a
table without data) is a failed smoke test with its reason, recorded on the endpoint's tags.
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable

from deployer import release
from deployer.backends import Backend, now_iso
from deployer.release import DeployConfig, DeployError, ManifestMissing, SmokeResult


class Deployer:
    def __init__(self, backend: Backend, config: DeployConfig, log: Callable[[str], None] = print,
                 deadline: float | None = None, sleep: Callable[[float], None] = time.sleep):
        self.backend, self.config, self.log, self.sleep = backend, config, log, sleep
        # the monotonic time by which every wait must end (the Lambda's own timeout, less a margin)
        self.deadline = deadline if deadline is not None else time.monotonic() + 30 * 60

    # --- the registry's decisions -----------------------------------------------------------------
    def handle_event(self, event: Any) -> dict[str, Any]:
        """Approved: stage (and maybe promote) that package. Rejected while live: roll prod back."""
        parsed = release.parse_event(event)
        if parsed.group.lower() != self.config.group.lower():
            return self._done("ignored", f"{parsed.arn} is in group {parsed.group}, not {self.config.group}")
        if parsed.status == "Approved":
            # the event may come before Publish (approved at registration): wait for its manifest
            return self.stage(parsed.arn, wait_for_manifest=True)
        if parsed.status == "Rejected":
            prod = self.backend.endpoint(self.config.prod_endpoint)
            if prod and (prod.get("Tags") or {}).get(release.TAG_PACKAGE) == parsed.arn:
                self.log(f"deploy: {parsed.arn}, live on {self.config.prod_endpoint}, was rejected: rolling back")
                return self.rollback()
            return self._done("ignored", f"{parsed.arn} was rejected; it is not live on "
                                         f"{self.config.prod_endpoint}, so nothing moves")
        return self._done("ignored", f"{parsed.arn} is {parsed.status or 'without a status'}: "
                                     "only Approved and Rejected move endpoints")

    def _done(self, outcome: str, message: str, **extra: Any) -> dict[str, Any]:
        self.log(f"deploy: {message}")
        return {"outcome": outcome, "message": message, **extra}

    # --- staging ----------------------------------------------------------------------------------
    def stage(self, package_arn: str, wait_for_manifest: bool = False) -> dict[str, Any]:
        """Deploy to staging, smoke-test it; promote when it passed and auto-promotion is on. The
        whole release holds the release lock (reentrant: promote takes it again).

        wait_for_manifest: a missing release manifest is waited for (config.manifest_wait_seconds,
        within the deadline) before ManifestMissing is raised, for the caller to retry."""
        package = self.backend.describe_package(package_arn)
        release.check_deployable(package)
        # no table for it: nothing is deployed at all
        manifest = self._awaited_manifest(package) if wait_for_manifest else self._manifest(package)
        with self.backend.release_lock(self.deadline):
            return self._stage(package_arn, package, manifest)

    def _stage(self, package_arn: str, package: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
        staging = self.config.staging_endpoint
        deployed: dict[str, Any] = {}
        try:
            deployed = self.backend.deploy(staging, package, self.log, self.deadline) or {}
            smoke = self._guarded_smoke(staging, manifest)
        except DeployError as err:
            smoke = SmokeResult(False, f"staging failed: {err}")
        current = self.backend.endpoint(staging)
        serving = (current or {}).get("EndpointConfigName")
        if current is not None and deployed and serving != deployed.get("EndpointConfigName"):
            # another release took staging over meanwhile: this verdict is not about what it serves
            return self._done("smoke-failed", f"another release replaced {staging} during the smoke test of "
                                              f"{package_arn} (it serves {serving}): "
                                              "approve it again", smoke="interleaved")
        if current is not None:       # the record of why, where status reads it
            self.backend.set_tags(staging, release.release_tags(package_arn, now_iso(), smoke))
        if not smoke.passed:
            return self._done("smoke-failed", f"{package_arn} on {staging}: smoke test failed: {smoke.detail}; "
                                              f"{self.config.prod_endpoint} is unchanged", smoke=smoke.detail)
        self.log(f"deploy: {package_arn} on {staging}: smoke test passed: {smoke.detail}")
        if self.config.auto_promote:
            return self.promote()
        return self._done("staged", f"{package_arn} waits on {staging}: promote it with `myflix deploy promote`",
                          smoke=smoke.detail)

    def stage_version(self, version: int | None = None) -> dict[str, Any]:
        """Stage an Approved package again (default: the newest Approved), as its approval would:
        for an approval whose event came before Publish, or a release that failed part-way."""
        packages = self.backend.list_packages(self.config.group)
        if version is None:
            approved = [p for p in packages if p.get("ModelApprovalStatus") == "Approved"]
            if not approved:
                raise DeployError(f"no Approved package in {self.config.group}: approve one first")
            target = max(approved, key=lambda p: release.package_version(p["ModelPackageArn"]))
        else:
            found = [p for p in packages if release.package_version(p["ModelPackageArn"]) == int(version)]
            if not found:
                raise DeployError(f"there is no version {version} in {self.config.group}")
            target = found[0]
        return self.stage(target["ModelPackageArn"])

    def _awaited_manifest(self, package: dict[str, Any]) -> dict[str, Any]:
        until = min(self.deadline, time.monotonic() + self.config.manifest_wait_seconds)
        while True:
            try:
                return self._manifest(package)
            except ManifestMissing as err:
                if time.monotonic() + self.config.manifest_poll_seconds > until:
                    raise ManifestMissing(f"{err} (waited {self.config.manifest_wait_seconds:.0f} s; "
                                          "`myflix deploy stage --version N` stages it once Publish "
                                          "has run)") from None
                self.log(f"deploy: {package['ModelPackageArn']}: no release manifest yet (Publish "
                         f"has not finished): checking again in {self.config.manifest_poll_seconds:.0f} s")
                self.sleep(self.config.manifest_poll_seconds)

    def _manifest(self, package: dict[str, Any]) -> dict[str, Any]:
        uri = release.release_uri(package)
        manifest = self.backend.read_json(uri)
        release.check_manifest(manifest, package, uri)
        return manifest

    def _guarded_smoke(self, endpoint: str, manifest: dict[str, Any]) -> SmokeResult:
        """The smoke test, with anything unexpected (a corrupt artefact that does not load, an
        endpoint that does not answer) turned into a failed verdict that says why."""
        try:
            return self.smoke_test(endpoint, manifest)
        except DeployError:
            raise
        except Exception as err:  # noqa: BLE001 - recorded as the smoke test's reason, never a crash
            return SmokeResult(False, f"the model on {endpoint} did not load or answer: "
                                      f"{type(err).__name__}: {str(err)[:160]}")

    def check_table(self, manifest: dict[str, Any]) -> SmokeResult:
        """The release's table: its data files read and indexed as the API starts over them."""
        try:
            return SmokeResult(True, self.backend.check_table(manifest))
        except DeployError as err:
            return SmokeResult(False, f"the table does not serve: {err}")

    def smoke_test(self, endpoint: str, manifest: dict[str, Any]) -> SmokeResult:
        """The package's table read and indexed, then known movies of it through the endpoint: each
        in its table cluster, in time."""
        table = self.check_table(manifest)
        if not table.passed:
            return table
        cases = list(manifest.get("Smoke") or [])[: self.config.smoke_max_movies]
        answers, latencies = [], []
        with self.backend.invoker(endpoint) as invoke:
            if cases:
                invoke(json.dumps(cases[0]["features"]).encode())      # warm-up: a cold start is not the bound
            for case in cases:
                started = time.perf_counter()
                answers.append(invoke(json.dumps(case["features"]).encode()))
                latencies.append((time.perf_counter() - started) * 1000.0)
        verdict = release.judge_smoke(cases, answers, latencies, self.config.smoke_latency_ms)
        return SmokeResult(verdict.passed, f"{verdict.detail} - table {table.detail}", verdict.checked,
                           verdict.wrong, verdict.slowest_ms)

    # --- prod ---------------------------------------------------------------------------------------
    def promote(self, force: bool = False) -> dict[str, Any]:
        """Put staging's package on prod (its smoke test must have passed, unless `force`)."""
        staging = self.backend.endpoint(self.config.staging_endpoint)
        tags = (staging or {}).get("Tags") or {}
        arn = tags.get(release.TAG_PACKAGE)
        if not arn:
            raise DeployError(f"nothing on {self.config.staging_endpoint} to promote: approve a model package first")
        if tags.get(release.TAG_SMOKE) != "passed" and not force:
            raise DeployError(f"{arn} on {self.config.staging_endpoint} did not pass its smoke test "
                              f"({tags.get(release.TAG_SMOKE_DETAIL, 'no result')}): fix it, or promote with --force")
        package = self.backend.describe_package(arn)
        release.check_deployable(package)
        with self.backend.release_lock(self.deadline):
            return self._release_to_prod(package, "promoted")

    def rollback(self, to_version: int | None = None) -> dict[str, Any]:
        """Put an earlier Approved package back on prod (default: what prod served before)."""
        prod = self.backend.endpoint(self.config.prod_endpoint)
        tags = (prod or {}).get("Tags") or {}
        target = release.rollback_target(tags.get(release.TAG_PACKAGE), tags.get(release.TAG_PREVIOUS),
                                         self.backend.list_packages(self.config.group), to_version)
        package = self.backend.describe_package(target["ModelPackageArn"])
        release.check_deployable(package)
        with self.backend.release_lock(self.deadline):
            return self._release_to_prod(package, "rolled-back")

    def _release_to_prod(self, package: dict[str, Any], outcome: str) -> dict[str, Any]:
        prod_name = self.config.prod_endpoint
        arn = package["ModelPackageArn"]
        manifest = self._manifest(package)
        before = self.backend.endpoint(prod_name)
        before_tags = dict((before or {}).get("Tags") or {})
        previous = before_tags.get(release.TAG_PACKAGE)
        if before is not None:
            # Tagged BEFORE it moves: should this run stop part-way (the Lambda's 15 minutes), prod's
            # tag never names a package behind what it serves, and the API's pair check (tag against
            # table) refuses until a rerun finishes, instead of passing on a stale tag.
            moving = SmokeResult(False, f"moving from {previous or 'nothing'}: not finished")
            self.backend.set_tags(prod_name, {**release.release_tags(arn, now_iso(), moving, previous),
                                              release.TAG_SMOKE: "not-run"})
        try:
            self.backend.deploy(prod_name, package, self.log, self.deadline)
        except DeployError:
            if before is not None:        # the update failed: prod still serves what it did
                self.backend.set_tags(prod_name, before_tags)
            raise
        # The endpoint moved first; now the table follows it (the API refuses the features route
        # in between, for as long as the two disagree).
        table = self.backend.point_table(manifest["TableInput"])
        smoke = self._guarded_smoke(prod_name, manifest)
        self.backend.set_tags(prod_name, release.release_tags(arn, now_iso(), smoke, previous))
        location = (table.get("StorageDescriptor") or {}).get("Location")
        return self._done(outcome, f"{prod_name} serves {arn} (was {previous or 'nothing'}); table "
                                   f"{self.config.database}.{self.config.table} -> {location}; "
                                   f"smoke test on prod {smoke.verdict}: {smoke.detail}", smoke=smoke.detail)

    # --- status -------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Which package serves each endpoint, since when, its smoke test; the table's package."""
        endpoints = []
        for role, name in (("staging", self.config.staging_endpoint), ("prod", self.config.prod_endpoint)):
            try:
                described = self.backend.endpoint(name) or {}
            except DeployError as err:     # a damaged record is shown as such, the rest still reported
                described = {"EndpointStatus": "unreadable", "Tags": {release.TAG_SMOKE_DETAIL: str(err)}}
            tags = described.get("Tags") if isinstance(described.get("Tags"), dict) else {}
            endpoints.append({"role": role, "name": name, "status": described.get("EndpointStatus", "absent"),
                              "package": tags.get(release.TAG_PACKAGE),
                              "since": (tags.get(release.TAG_DEPLOYED_AT)
                                        or str(described.get("LastModifiedTime") or "")),
                              "smoke": tags.get(release.TAG_SMOKE), "smoke_detail": tags.get(release.TAG_SMOKE_DETAIL),
                              "previous": tags.get(release.TAG_PREVIOUS)})
        try:
            table = self.backend.get_table() or {}
        except DeployError as err:
            table = {"StorageDescriptor": {"Location": f"unreadable: {err}"}}
        table_package = (table.get("Parameters") or {}).get("myflix_model_package_arn")
        prod_package = endpoints[1]["package"]
        return {"endpoints": endpoints,
                "table": {"name": f"{self.config.database}.{self.config.table}",
                          "location": (table.get("StorageDescriptor") or {}).get("Location"),
                          "package": table_package},
                "in_step": bool(prod_package) and prod_package == table_package}


def render_status(status: dict[str, Any]) -> str:
    lines = []
    for ep in status["endpoints"]:
        lines.append(f"{ep['role']:<8} {ep['name']:<34} {ep['status']:<10} {ep['package'] or '-'}")
        if ep["package"]:
            lines.append(f"{'':<8} since {ep['since']}; smoke test {ep['smoke']}: {ep['smoke_detail']}")
        elif ep["status"] == "unreadable":
            lines.append(f"{'':<8} {ep['smoke_detail']}")
        if ep.get("previous"):
            lines.append(f"{'':<8} before it: {ep['previous']} (`myflix deploy rollback` goes back to it)")
    table = status["table"]
    lines.append(f"table    {table['name']:<34} {table['location'] or 'not published'} "
                 f"(package {table['package'] or '-'})")
    lines.append("the table and the prod endpoint serve the same package" if status["in_step"] else
                 "the table and the prod endpoint DISAGREE: the API refuses the features route until they match")
    return "\n".join(lines)
