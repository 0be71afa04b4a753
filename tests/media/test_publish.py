"""Publishing a real ladder (ffmpeg on generated audio) into each media store: the master goes last and
names only the new version; older and half-published versions are gone afterwards."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from media.fencing import ClaimLost, Fence
from media.playlists import parse_master_playlist, parse_media_playlist
from media.publish import publish_ladder
from media.storage import MediaStore, StoredObject, WriteConflict
from tests.audio import make_audio
from transcoder.pipeline import transcode


class Recording:
    """A media store that notes the order of writes and deletes, passing every call on."""

    def __init__(self, inner: MediaStore) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str]] = []

    async def put_file(self, key: str, source: Path) -> StoredObject:
        self.calls.append(("put", key))
        return await self.inner.put_file(key, source)

    async def delete(self, keys: list[str]) -> None:
        self.calls.extend(("delete", k) for k in keys)
        await self.inner.delete(keys)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


@pytest.fixture(scope="module")
def ladder(tmp_path_factory) -> Path:
    """One real ladder for the module's tests (ffmpeg, 4 s of generated audio)."""
    folder = tmp_path_factory.mktemp("ladder")
    source = make_audio(folder / "source.flac", "flac", 4.0)
    asyncio.run(transcode(source, folder / "hls"))
    return folder / "hls"


def files_in(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


async def text(store: MediaStore, key: str) -> str:
    return b"".join([c async for c in store.read(key)]).decode()


async def test_the_master_goes_last_and_names_the_new_version_only(media_store: MediaStore, ladder: Path):
    recording = Recording(media_store)
    first = await publish_ladder(recording, ladder, "t1")
    puts = [key for op, key in recording.calls if op == "put"]
    assert puts[-1] == "hls/t1/master.m3u8" and len(puts) == len(await asyncio.to_thread(files_in, ladder))
    master = parse_master_playlist(await text(media_store, "hls/t1/master.m3u8"))
    assert len(master.variants) == 3
    for variant in master.variants:
        assert variant.uri.startswith(f"{first}/")
        key = f"hls/t1/{variant.uri}"
        media = parse_media_playlist(await text(media_store, key))
        folder = key.rsplit("/", 1)[0]
        for name in [media.map_uri, *(s.uri for s in media.segments)]:
            rung_file = ladder / variant.uri.split("/", 1)[1].rsplit("/", 1)[0] / name
            got = b"".join([c async for c in media_store.read(f"{folder}/{name}")])
            assert got == rung_file.read_bytes()

    # A crashed publish left a version without a master; the next publish clears it and the old one.
    await media_store.put_file("hls/t1/v0dead/64k/seg_00000.m4s", ladder / "64k" / "seg_00000.m4s")
    recording.calls.clear()
    second = await publish_ladder(recording, ladder, "t1")
    assert second != first
    master_at = recording.calls.index(("put", "hls/t1/master.m3u8"))
    deleted = [key for op, key in recording.calls[master_at:] if op == "delete"]
    assert deleted and all(k.startswith((f"hls/t1/{first}/", "hls/t1/v0dead/")) for k in deleted)
    assert all(op == "put" for op, _ in recording.calls[:master_at])
    keys = await media_store.keys("hls/t1/")
    assert all(k == "hls/t1/master.m3u8" or k.startswith(f"hls/t1/{second}/") for k in keys)
    assert f"{second}/" in await text(media_store, "hls/t1/master.m3u8")


class Frozen:
    """A claim check that stops, once, until released: a worker frozen between its check and its switch."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.checking = asyncio.Event()
        self.release = asyncio.Event()

    async def holds(self) -> bool:
        if not self.checking.is_set():
            self.checking.set()
            await self.release.wait()
        return self.answer


async def holding() -> bool:
    return True


async def _versions(store: MediaStore, track: str) -> set[str]:
    return {k.split("/")[2] for k in await store.keys(f"hls/{track}/") if not k.endswith("master.m3u8")}


async def test_a_frozen_older_claim_never_switches_the_master_back(media_store: MediaStore, ladder: Path):
    """The older claim checked its fence and froze; the newer one published meanwhile (removing what
    is older, the frozen one's upload included). Let go, the older one finds the master changed under
    its conditional put, sees the newer generation and gives up, removing what it put: one version of
    the ladder stays, the newer one."""
    old = Frozen()
    first = asyncio.create_task(publish_ladder(media_store, ladder, "t2", fence=Fence(1, old.holds)))
    await asyncio.wait_for(old.checking.wait(), 30)
    newer = await publish_ladder(media_store, ladder, "t2", fence=Fence(2, holding))
    assert await _versions(media_store, "t2") == {newer}  # it removed the older one's upload too
    old.release.set()
    with pytest.raises(ClaimLost):
        await first
    assert await _versions(media_store, "t2") == {newer}
    assert f"{newer}/" in await text(media_store, "hls/t2/master.m3u8")

    # A claim that no longer holds never switches, and leaves nothing; nor does an older generation.
    async def lost() -> bool:
        return False

    for fence in (Fence(3, lost), Fence(1, holding)):
        with pytest.raises(ClaimLost):
            await publish_ladder(media_store, ladder, "t2", fence=fence)
        assert await _versions(media_store, "t2") == {newer}
    # A newer claim replaces it, and removes only what is older.
    newest = await publish_ladder(media_store, ladder, "t2", fence=Fence(4, holding))
    assert await _versions(media_store, "t2") == {newest} and newest > newer


async def test_conditional_puts_let_one_writer_through(media_store: MediaStore):
    await media_store.put_if("hls/t3/master.m3u8", b"one", None)
    with pytest.raises(WriteConflict):
        await media_store.put_if("hls/t3/master.m3u8", b"two", None)  # exists already
    data, tag = await media_store.read_versioned("hls/t3/master.m3u8") or (b"", "")
    assert data == b"one"
    await media_store.put_if("hls/t3/master.m3u8", b"three", tag)
    with pytest.raises(WriteConflict):
        await media_store.put_if("hls/t3/master.m3u8", b"four", tag)  # changed since
    assert (await media_store.read_versioned("hls/t3/master.m3u8") or (b"",))[0] == b"three"
    assert await media_store.read_versioned("hls/t3/none.m3u8") is None
