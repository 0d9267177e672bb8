"""An import outlives the process that started it (issue 11: a large file runs in the background, with progress).

A web worker is recycled, a deployment restarts the service, an operator's shell closes: the import's runner dies
mid-file. Each batch commits its rows with the import's progress, so the scheduler's `imports` job resumes it after
its lease runs out, from the row after the last batch committed: nobody twice, nobody left out. Its file is kept
sealed (it holds ID numbers) while it runs, and deleted when it ends. The file's rows are counted up front (the
progress's total) without parsing it twice, whatever its line ends."""

from __future__ import annotations

import csv
import io
import signal
import threading
from datetime import date, timedelta

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import select

from app import scheduled_jobs
from bench.county_import import resident_file
from core import clock, crypto
from core import db as core_db
from registry import imports
from registry.models import Import, ImportFile, ImportStatus, Resident
from tests import factories as f
from tests.county_helpers import count
from tests.processes import environment, start, stop, wait_for

ROWS = 10


class Killed(BaseException):
    """The runner's process ends mid-import (not an error the import sees: nothing marks it failed)."""


def _file(rows: int = ROWS) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["姓名", "身份证号"])
    writer.writerows([f"续导居民{n}", f.id_number(date(1950 + n, 1 + n % 12, 1 + n % 28))] for n in range(rows))
    return buffer.getvalue().encode("gbk")


def _begin(centre, content: bytes) -> tuple[Import, imports.Source]:
    source = imports.open_source(content, "county.csv", "residents")
    return imports.begin(None, centre_id=centre.id, filename="county.csv", source=source, started_by="test"), source


def _dies_after_first_batch(rows: int) -> None:
    raise Killed


def _imported(job_id: int) -> tuple:
    job = core_db.session.get(Import, job_id, populate_existing=True)
    return job.status, job.rows_done, job.created, job.unchanged, job.refused


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(imports, "BATCH", 4)


def test_an_import_whose_runner_died_is_resumed_after_its_last_committed_batch(centres, frozen_clock, small_batches):
    job, source = _begin(centres["home"], _file())
    with pytest.raises(Killed):
        imports.run(job.id, source, progress=_dies_after_first_batch)
    assert _imported(job.id) == (ImportStatus.RUNNING, 4, 4, 0, 0)

    assert imports.resume_abandoned() == []  # its lease has not run out: the runner may only be slow
    assert count(Resident, Resident.name.like("续导居民%")) == 4

    clock.advance(imports.LEASE + timedelta(seconds=1))
    assert imports.resume_abandoned() == [job.id]
    assert _imported(job.id) == (ImportStatus.DONE, ROWS, ROWS, 0, 0)
    names = core_db.session.scalars(select(Resident.name).where(Resident.name.like("续导居民%"))).all()
    assert sorted(names) == sorted(f"续导居民{n}" for n in range(ROWS))  # each once
    assert core_db.session.get(ImportFile, job.id) is None


def test_an_import_cli_killed_mid_file_is_finished_by_the_scheduler_with_nobody_twice(app, committed_db, tmp_path):
    """A real process: `flask registry import` is killed (SIGKILL) once it has committed a batch and before its last.
    The scheduler's job, once the dead runner's lease has run out, imports the rest."""
    f.regions()
    centre = f.centre()
    core_db.session.commit()
    rows = 3 * imports.BATCH
    path = tmp_path / "county.csv"
    path.write_bytes(resident_file(rows, [window.name for window in centre.windows]))
    cli = start(environment(app, committed_db), "registry", "import", str(path), "--centre", str(centre.id))
    try:
        job_id = wait_for(lambda: core_db.session.scalar(select(Import.id).where(Import.rows_done > 0)))
        stop(cli, signal.SIGKILL)
    finally:
        stop(cli)
    killed_at = _imported(job_id)
    assert killed_at[0] is ImportStatus.RUNNING and 0 < killed_at[1] < rows

    clock.advance(imports.LEASE + timedelta(seconds=1))
    assert imports.resume_abandoned() == [job_id]
    assert _imported(job_id) == (ImportStatus.DONE, rows, rows, 0, 0)
    assert count(Resident, Resident.registered_by_centre_id == centre.id) == rows
    assert core_db.session.get(ImportFile, job_id) is None


def test_a_runner_whose_lease_ran_out_writes_no_further_batch(app, committed_db, frozen_clock, small_batches):
    f.regions()
    centre = f.centre()
    core_db.session.commit()
    job, source = _begin(centre, _file())

    def taken_over(rows: int) -> None:
        """The first runner stalls past its lease; meanwhile the scheduler (another thread) resumes the import."""
        clock.advance(imports.LEASE + timedelta(seconds=1))
        resumed = []

        def scheduler() -> None:
            with app.app_context():
                resumed.extend(imports.resume_abandoned())
                core_db.session.remove()

        thread = threading.Thread(target=scheduler)
        thread.start()
        thread.join()
        assert resumed == [job.id]

    imports.run(job.id, source, progress=taken_over)
    assert _imported(job.id) == (ImportStatus.DONE, ROWS, ROWS, 0, 0)  # the first runner added nothing after
    assert count(Resident, Resident.name.like("续导居民%")) == ROWS


def test_an_import_file_is_kept_sealed_while_it_runs_and_deleted_when_it_ends(centres):
    content = _file()
    job, source = _begin(centres["home"], content)
    sealed = core_db.session.get(ImportFile, job.id).content
    first_id_number = content.decode("gbk").splitlines()[1].split(",")[1]
    assert first_id_number.encode() not in sealed and "续导居民".encode("gbk") not in sealed
    assert crypto.unseal(sealed, imports.SEALED_FILE) == content

    imports.run(job.id, source)
    assert _imported(job.id)[0] is ImportStatus.DONE
    assert core_db.session.get(ImportFile, job.id) is None


def test_a_sealed_file_opens_only_where_it_belongs_and_as_it_was(app):
    sealed = crypto.seal(b"\xe5\xa7\x93\xe5\x90\x8d,id_number", imports.SEALED_FILE)
    with pytest.raises(InvalidTag):
        crypto.unseal(sealed, "another.context")
    with pytest.raises(InvalidTag):
        crypto.unseal(sealed[:-1] + bytes([sealed[-1] ^ 1]), imports.SEALED_FILE)


def test_an_import_left_from_before_files_were_kept_fails_saying_so(centres, frozen_clock):
    with core_db.transaction():
        stranded = Import(centre_id=centres["home"].id, filename="old.csv", status=ImportStatus.RUNNING, total_rows=50,
                          rows_done=20, started_by="test")
        core_db.session.add(stranded)
    assert imports.resume_abandoned() == []
    job = core_db.session.get(Import, stranded.id, populate_existing=True)
    assert (job.status, job.failure, job.rows_done) == (ImportStatus.FAILED, imports.FILE_NOT_KEPT, 20)


def test_an_ended_import_is_not_run_again(centres, small_batches):
    job, source = _begin(centres["home"], _file())
    imports.run(job.id, source)
    assert imports.run(job.id, source).created == ROWS
    assert count(Resident, Resident.name.like("续导居民%")) == ROWS
    assert imports.resume_abandoned() == []


def test_resuming_imports_is_a_scheduled_job(app):
    assert "imports" in {job.id for job in scheduled_jobs()}


@pytest.mark.parametrize("line_end", ["\r\n", "\n", "\r"])
def test_a_csv_file_is_read_whatever_its_line_ends(centres, line_end):
    content = _file().decode("gbk").replace("\r\n", line_end).encode("gbk")
    job, source = _begin(centres["home"], content)
    assert job.total_rows == ROWS
    assert _imported(imports.run(job.id, source).id) == (ImportStatus.DONE, ROWS, ROWS, 0, 0)


def test_a_quoted_cell_may_hold_a_line_break_and_is_counted_as_one_row(centres):
    content = _file().decode("gbk").replace("续导居民0", '"续导\n居民0"', 1).encode("gbk")
    job, source = _begin(centres["home"], content)
    assert job.total_rows == ROWS
