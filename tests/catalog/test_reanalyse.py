"""Re-analysis: an admin has tracks transcoded before gapless and album loudness transcoded again, in
place. They stay ready (playable) throughout and come out with edit lists, loudness range and the album's
figures."""

from __future__ import annotations

import asyncio

from server import keys
from tests.helpers import error_code, make_track, signed_in, wait_for_track


async def test_old_tracks_are_reanalysed_in_place(client):
    _, artist = await signed_in(client, "artist")
    _, admin = await signed_in(client, "admin")
    made = await make_track(client, artist, "flac", seconds=3.0, fields={"album": "Older Days"})
    ready = await wait_for_track(client, artist, made["id"])
    assert ready["status"] == "ready" and ready["gapless"] is not None

    # What a transcode of an earlier version left: no gapless figures, no range, no gating blocks.
    db = client.app[keys.DB]
    old_loudness = {k: ready["loudness"][k] for k in ("integrated_lufs", "true_peak_dbtp")}
    await db["tracks"].update_one({"_id": made["id"]}, {"$set": {"gapless": None, "loudness": old_loudness}})
    await db["loudness_blocks"].delete_one({"_id": made["id"]})
    await client.app[keys.CATALOG].cache.invalidate("track", made["id"])

    resp = await client.post("/api/v1/jobs/reanalyse", json={}, headers=artist)
    assert resp.status == 403
    resp = await client.post("/api/v1/jobs/reanalyse", json={"limit": 0}, headers=admin)
    assert resp.status == 400 and error_code(await resp.json()) == "invalid_input"
    resp = await client.post("/api/v1/jobs/reanalyse", json={}, headers=admin)
    assert resp.status == 202
    assert await resp.json() == {"queued": 1, "remaining": 0}

    seen = set()
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        track = await (await client.get(f"/api/v1/tracks/{made['id']}", headers=artist)).json()
        seen.add(track["status"])
        if track["gapless"] is not None and track["loudness"].get("album_gain_db") is not None:
            break
        assert asyncio.get_running_loop().time() < deadline, track
        await asyncio.sleep(0.05)
    assert seen == {"ready"}  # never hidden from listeners while it was transcoded again
    assert track["loudness"]["range_lu"] is not None and track["loudness"]["track_gain_db"] is not None
    while True:  # the job record is closed just after the track's results are written
        listed = await (await client.get(f"/api/v1/jobs?track_id={made['id']}", headers=admin)).json()
        jobs = [(j["refresh"], j["state"]) for j in listed["items"]]
        if jobs[0][1] == "done" or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    assert jobs == [(True, "done"), (False, "done")]

    # Nothing is left to re-analyse; "everything" takes every ready track again.
    assert await (await client.post("/api/v1/jobs/reanalyse", json={}, headers=admin)).json() == {
        "queued": 0,
        "remaining": 0,
    }
    resp = await client.post("/api/v1/jobs/reanalyse", json={"everything": True}, headers=admin)
    assert await resp.json() == {"queued": 1, "remaining": 0}
