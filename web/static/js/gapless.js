// Gapless playback: the queue's tracks laid end to end on ONE Media Source timeline.
//
// Each track's rung is appended after the previous one with timestampOffset = where the track starts,
// and an append window [start, start + music) that cuts what the transcoder put around the music: the
// priming and mirrored head before it (the init segment's edit list already shifts those before the
// track's zero, and Chromium honours it), the mirrored tail and the encoder's padding after it (the
// track's `gapless.source_samples` say where the music ends). So the decoder never plays a sample that
// is not the music, and the next track's first sample follows the last one of this track.
//
// The timeline is fed a few segments ahead of the playhead and trimmed behind it, so memory stays flat
// however long the queue. Seeking outside what is buffered refills from the segment that holds the
// target. Where Media Source is missing (iOS Safari) the player uses native HLS, one track at a time.

export const MIME = 'audio/mp4; codecs="mp4a.40.2"';
const AHEAD_S = 30; // how far ahead of the playhead the buffer is filled
const BEHIND_S = 20; // how much already played audio is kept (for small seeks back)
const PREFERRED_RUNG = '128k';

export function gaplessSupported() {
  return Boolean(window.MediaSource && MediaSource.isTypeSupported(MIME));
}

function parseAttributes(text) {
  const out = {};
  for (const m of text.matchAll(/([A-Z0-9-]+)=("[^"]*"|[^,]*)/g)) out[m[1]] = m[2].replace(/^"|"$/g, '');
  return out;
}

async function fetchText(url) {
  const resp = await fetch(url);
  if (!resp.ok) throw new Error(`${resp.status} for a playlist`);
  return resp.text();
}

/** The rung to play from a master playlist: the preferred one, else the highest listed. */
async function rungOf(masterUrl) {
  const lines = (await fetchText(masterUrl)).split('\n').map((l) => l.trim());
  const variants = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].startsWith('#EXT-X-STREAM-INF:') && lines[i + 1]) {
      variants.push({ bandwidth: Number(parseAttributes(lines[i].slice(18)).BANDWIDTH) || 0, url: new URL(lines[i + 1], masterUrl).href });
    }
  }
  if (!variants.length) throw new Error('the master playlist lists no rung');
  const preferred = variants.find((v) => v.url.includes(`/${PREFERRED_RUNG}/`));
  return (preferred || variants.sort((a, b) => b.bandwidth - a.bandwidth)[0]).url;
}

/** Init and segment URLs of a media playlist, each segment with its start on the rung's own timeline. */
async function mediaPlaylist(url) {
  const lines = (await fetchText(url)).split('\n').map((l) => l.trim());
  let init = null;
  let at = 0;
  let duration = 0;
  const segments = [];
  for (const line of lines) {
    if (line.startsWith('#EXT-X-MAP:')) init = new URL(parseAttributes(line.slice(11)).URI, url).href;
    else if (line.startsWith('#EXTINF:')) duration = parseFloat(line.slice(8));
    else if (line && !line.startsWith('#')) {
      segments.push({ url: new URL(line, url).href, start: at, duration });
      at += duration;
    }
  }
  if (!init || !segments.length) throw new Error('the media playlist has no init segment or no segments');
  return { init, segments, length: at };
}

export class Timeline {
  /** ``onError(err)`` is called once when the timeline cannot go on (the player falls back). */
  constructor(audio, onError) {
    this.audio = audio;
    this.onError = onError;
    this.entries = []; // [{track, start, duration, lead, init, segments, next, initDone}]
    this.closed = false;
    this.feeding = null;
    this.pendingTime = null; // where playback will start, while the element does not know yet
    this.firstAppended = null;
  }

  /** Start a new timeline with ``track`` at ``positionMs``; resolves once playback can start. */
  async open(track, media, positionMs = 0) {
    this.ms = new MediaSource();
    this.url = URL.createObjectURL(this.ms);
    this.audio.src = this.url;
    await new Promise((resolve) => this.ms.addEventListener('sourceopen', resolve, { once: true }));
    this.sb = this.ms.addSourceBuffer(MIME);
    this.sb.mode = 'segments';
    this.onSeeking = () => this.seeked();
    this.onTime = () => this.feed();
    this.audio.addEventListener('seeking', this.onSeeking);
    this.audio.addEventListener('timeupdate', this.onTime);
    const entry = await this.entryFor(track, media, 0);
    this.entries.push(entry);
    this.ms.duration = entry.start + entry.duration;
    this.startAt(entry, positionMs / 1000);
    // Until the element knows where to play from, the feeder measures from there.
    this.pendingTime = entry.start + positionMs / 1000;
    const first = new Promise((resolve) => (this.firstAppended = resolve));
    await Promise.race([first, this.feed()]); // playback can start once one segment is in
    this.audio.currentTime = this.pendingTime;
    this.pendingTime = null;
  }

  /** Lay ``track`` after the last one (the next of the queue). */
  async append(track, media) {
    if (this.closed) return;
    const last = this.entries[this.entries.length - 1];
    const entry = await this.entryFor(track, media, last.start + last.duration);
    if (this.closed) return;
    this.entries.push(entry);
    if (this.ms.readyState === 'open' && !this.sb.updating) this.ms.duration = entry.start + entry.duration;
    this.feed();
  }

  async entryFor(track, media, start) {
    const playlist = await mediaPlaylist(await rungOf(media.hls_url));
    const g = track.gapless;
    // The music's length and what lies before it on the rung's timeline; a track transcoded before
    // gapless bookkeeping plays whole (its priming then sounds as a short silence, as it always did).
    const duration = g ? g.source_samples / g.sample_rate : playlist.length;
    const lead = g ? g.priming_samples / g.sample_rate : 0;
    return { track, start, duration, lead, init: playlist.init, segments: playlist.segments, next: 0, initDone: false, done: false };
  }

  /** The entry at timeline time ``t`` (the last one whose start it passed). */
  entryAt(t = this.audio.currentTime) {
    let found = this.entries[0];
    for (const e of this.entries) if (t + 1e-3 >= e.start) found = e;
    return found;
  }

  /** Position within the current track, in seconds. */
  localTime() {
    const e = this.entryAt();
    return e ? Math.max(0, this.audio.currentTime - e.start) : 0;
  }

  seekLocal(seconds) {
    const e = this.entryAt();
    if (e) this.audio.currentTime = e.start + Math.min(Math.max(0, seconds), e.duration - 0.01);
  }

  /** Point ``entry``'s next segment at the one holding ``local`` seconds of its music. */
  startAt(entry, local) {
    const t = local + entry.lead; // on the rung's own timeline
    let i = entry.segments.findIndex((s) => t < s.start + s.duration);
    if (i < 0) i = entry.segments.length - 1;
    entry.next = Math.max(0, i);
    entry.initDone = false;
    entry.done = false;
  }

  buffered(t) {
    const b = this.sb.buffered;
    for (let i = 0; i < b.length; i++) if (t >= b.start(i) - 0.05 && t < b.end(i)) return b.end(i);
    return null;
  }

  /** The playhead left what is buffered: refill from the segment that holds it. */
  async seeked() {
    const t = this.audio.currentTime;
    if (this.buffered(t) !== null) return;
    const target = this.entryAt(t);
    for (const e of this.entries) {
      if (e.start + e.duration <= target.start) e.done = true;
      else if (e === target) this.startAt(e, t - e.start);
      else this.startAt(e, 0);
    }
    this.restart = true;
    this.feed();
  }

  feed() {
    if (!this.feeding) {
      this.feeding = this.pump().finally(() => (this.feeding = null));
    }
    return this.feeding;
  }

  async pump() {
    try {
      while (!this.closed) {
        if (this.restart) {
          this.restart = false;
          await this.run(() => this.sb.remove(0, Infinity));
        }
        const entry = this.entries.find((e) => !e.done);
        if (!entry) {
          if (this.ms.readyState === 'open' && !this.sb.updating) this.ms.endOfStream();
          return;
        }
        const ahead = this.aheadOf(this.pendingTime ?? this.audio.currentTime);
        if (ahead > AHEAD_S) return; // timeupdate calls again
        await this.trimBehind();
        if (!entry.initDone) {
          // Set the window before the init: the track's music only, at its place on the timeline.
          this.sb.appendWindowStart = 0;
          this.sb.appendWindowEnd = entry.start + entry.duration;
          this.sb.appendWindowStart = entry.start;
          this.sb.timestampOffset = entry.start;
          await this.appendUrl(entry.init);
          entry.initDone = true;
        }
        await this.appendUrl(entry.segments[entry.next].url);
        if (this.firstAppended) {
          this.firstAppended();
          this.firstAppended = null;
        }
        entry.next += 1;
        if (entry.next >= entry.segments.length) entry.done = true;
      }
    } catch (err) {
      if (!this.closed) {
        this.close();
        this.onError(err);
      }
    }
  }

  aheadOf(t) {
    const end = this.buffered(t);
    return end === null ? 0 : end - t;
  }

  async trimBehind() {
    const t = this.pendingTime ?? this.audio.currentTime;
    if (t > BEHIND_S + 5 && this.sb.buffered.length && this.sb.buffered.start(0) < t - BEHIND_S) {
      await this.run(() => this.sb.remove(0, t - BEHIND_S));
    }
  }

  async appendUrl(url) {
    const resp = await fetch(url);
    if (!resp.ok) throw new Error(`${resp.status} for a segment`);
    const data = await resp.arrayBuffer();
    if (this.closed) return;
    await this.run(() => this.sb.appendBuffer(data));
  }

  run(op) {
    return new Promise((resolve, reject) => {
      const done = () => {
        this.sb.removeEventListener('error', fail);
        resolve();
      };
      const fail = () => {
        this.sb.removeEventListener('updateend', done);
        reject(new Error('the media source refused data'));
      };
      this.sb.addEventListener('updateend', done, { once: true });
      this.sb.addEventListener('error', fail, { once: true });
      op(); // on an "ended" source this reopens it (MSE: appends and removes after endOfStream)
    });
  }

  /** Forget the tracks laid after the one playing (the queue changed); their audio is removed. */
  async dropAfterCurrent() {
    const current = this.entryAt();
    const i = this.entries.indexOf(current);
    if (i < 0 || i === this.entries.length - 1) return;
    const cut = this.entries[i + 1].start;
    this.entries.length = i + 1;
    if (this.feeding) await this.feeding;
    if (this.closed) return;
    await this.run(() => this.sb.remove(cut, Infinity));
    if (this.ms.readyState === 'open' && !this.sb.updating) this.ms.duration = current.start + current.duration;
    this.feed();
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.audio.removeEventListener('seeking', this.onSeeking);
    this.audio.removeEventListener('timeupdate', this.onTime);
    if (this.url) URL.revokeObjectURL(this.url);
  }
}
