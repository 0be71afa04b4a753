"""``/api/v1/jobs``: the transcode jobs, for the admin console (list, retry a failed one)."""

from __future__ import annotations

from aiohttp import web

from server import keys
from server.api import ADMIN, Api
from server.catalog.store import TrackQuery
from server.errors import Conflict, NotFound
from server.jobs.schemas import JobList, JobOut, JobsQuery, ReanalyseIn, ReanalyseOut
from transcoder.jobs import JobNotFound, JobStateConflict

api = Api("/api/v1")


@api.route("GET", "/jobs", roles=ADMIN, query=JobsQuery, response=JobList, tags=["jobs"])
async def list_jobs(request: web.Request, query: JobsQuery) -> JobList:
    """Transcode jobs, newest first; filter by ``state`` (e.g. ``failed``) or ``track_id`` (admin)."""
    jobs, total = await request.app[keys.JOBS].jobs.list(
        state=query.state, track_id=query.track_id, limit=query.limit, offset=query.offset
    )
    return JobList(items=[JobOut.of(job) for job in jobs], total=total)


@api.route("GET", "/jobs/{id}", roles=ADMIN, response=JobOut, tags=["jobs"])
async def get_job(request: web.Request) -> JobOut:
    """One transcode job (admin)."""
    job = await request.app[keys.JOBS].jobs.find(request.match_info["id"])
    if job is None:
        raise NotFound("No such job.")
    return JobOut.of(job)


@api.route("POST", "/jobs/{id}/retry", roles=ADMIN, response=JobOut, status=202, tags=["jobs"])
async def retry_job(request: web.Request) -> JobOut:
    """Queue a failed job again with fresh attempts; its track goes back to ``processing`` (admin)."""
    queue = request.app[keys.JOBS]
    catalog = request.app[keys.CATALOG]
    job = await queue.jobs.find(request.match_info["id"])
    if job is None:
        raise NotFound("No such job.")
    if job.state != "failed":
        raise Conflict("Only a failed job can be retried.", code="job_not_failed")
    track_id = job.track_id
    # The track first: a worker that met a job whose track is still "failed" would close it unchanged.
    try:
        track = await catalog.set_track(track_id, {"status": "processing", "error": None, "progress": 0})
    except NotFound as exc:
        raise Conflict("The track of this job no longer exists.", code="track_gone") from exc
    try:
        job = await queue.retry(job.id)
    except JobNotFound as exc:
        raise NotFound("No such job.") from exc
    except JobStateConflict as exc:
        # Another admin retried it a moment ago; the track is processing either way.
        raise Conflict("Only a failed job can be retried.", code="job_not_failed") from exc
    await catalog.track_status(track)
    return JobOut.of(job)


@api.route(
    "POST", "/jobs/reanalyse", roles=ADMIN, body=ReanalyseIn, response=ReanalyseOut, status=202, tags=["jobs"]
)
async def reanalyse(request: web.Request, body: ReanalyseIn) -> ReanalyseOut:
    """Transcode ready tracks again, in place, so that they get what newer transcodes record: gapless
    edit lists, the loudness range and the blocks their album's loudness is figured from (admin). By
    default only tracks without them; ``everything`` for all. They stay playable throughout."""
    queue = request.app[keys.JOBS]
    query = TrackQuery(status="ready", everything=True, without_gapless=not body.everything)
    ids = await request.app[keys.CATALOG].tracks.ids_where(query)
    for track_id in ids[: body.limit]:
        await queue.enqueue(track_id, refresh=True)
    return ReanalyseOut(queued=min(len(ids), body.limit), remaining=max(0, len(ids) - body.limit))
