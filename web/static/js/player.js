// The player: queue, gapless playback on one Media Source timeline (gapless.js; hls.js if that fails,
// native HLS where Media Source is missing), loudness normalisation, Media Session, and the shared
// playback state of the user's devices (one plays; the others show it and control it).

import { get, post } from './api.js';
import { $, clear, formatTime, h, toast, errorText } from './dom.js';
import { Timeline, gaplessSupported } from './gapless.js';
import { deviceId, deviceLabel, events } from './realtime.js';

const TARGET_LUFS = -16; // the level tracks (or albums) are brought to when normalising
const PEAK_CEILING_DB = -1; // never raise a track so far that its true peak passes this
const NORMALISE_MODES = ['track', 'album', 'off'];
const CROSSFADE_MAX_S = 12;

class Player {
  constructor() {
    // Two decks: the track that plays is on `this.audio`; a crossfade starts the next track on the
    // other deck and hands over to it, so the decks take turns.
    this.audio = $('#audio');
    this.decks = [this.audio];
    this.crossfade = Math.min(CROSSFADE_MAX_S, Math.max(0, Number(localStorage.getItem('hs-crossfade')) || 0));
    this.fading = null; // {deck, timeline, timer} of the track fading out
    this.timeListeners = new Set();
    this.queue = [];
    this.order = []; // indexes into queue, shuffled or not
    this.pos = -1; // position in order
    this.shuffle = false;
    this.repeat = 'off'; // off | all | one
    // track: every track at the target level; album: every album at it, its tracks keeping their
    // differences (a quiet interlude stays quiet); off. "on" is what earlier versions stored.
    const stored = localStorage.getItem('hs-normalise');
    this.normalise = NORMALISE_MODES.includes(stored) ? stored : stored === 'off' ? 'off' : 'track';
    this.volume = Number(localStorage.getItem('hs-volume') ?? 1);
    this.hls = null;
    this.Hls = undefined;
    this.timeline = null; // the gapless timeline, when the current track plays on one
    this.remote = null; // the last playback state from the server
    this.remoteTrack = null;
    this.seeking = false;
    this.graph = null; // Web Audio gain stage, built on the first play
    this.listeners = new Set();
    this.pending = 0; // own playback commands still waiting for their answer
  }

  get current() {
    return this.pos >= 0 ? this.queue[this.order[this.pos]] : null;
  }

  // Another device is the active one and has something loaded: the bar controls it.
  get isRemote() {
    return Boolean(this.remote && this.remote.track_id && this.remote.device_id && this.remote.device_id !== deviceId);
  }

  /** The id of the track the bar shows: on this device, or on the device that plays. */
  get shownTrackId() {
    if (this.isRemote) return this.remote.track_id;
    const track = this.current || this.remoteTrack;
    return track ? track.id : null;
  }

  /** Seconds into the track that plays here (the timeline holds several tracks end to end). */
  localTime() {
    return this.timeline ? this.timeline.localTime() : this.audio.currentTime;
  }

  onChange(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** ``fn`` runs as playback moves on (and after seeks), whichever deck plays. */
  onTimeUpdate(fn) {
    this.timeListeners.add(fn);
  }

  changed() {
    this.render();
    for (const fn of this.listeners) fn(this);
  }

  bind() {
    const spare = h('audio', { id: 'audio-b', preload: 'none' });
    this.audio.after(spare);
    this.decks.push(spare);
    $('#btn-play').addEventListener('click', () => this.toggle());
    $('#btn-next').addEventListener('click', () => this.next());
    $('#btn-prev').addEventListener('click', () => this.previous());
    $('#btn-shuffle').addEventListener('click', () => this.setShuffle(!this.shuffle));
    $('#btn-repeat').addEventListener('click', () => this.cycleRepeat());
    $('#btn-play-here').addEventListener('click', () => this.playHere());
    const seek = $('#seek');
    seek.addEventListener('input', () => {
      this.seeking = true;
      $('#time-current').textContent = formatTime(Number(seek.value) * 1000);
    });
    seek.addEventListener('change', () => {
      this.seeking = false;
      this.seekTo(Number(seek.value) * 1000);
    });
    const volume = $('#volume');
    volume.value = String(Math.round(this.volume * 100));
    volume.addEventListener('input', () => this.setVolume(Number(volume.value) / 100));
    const norm = $('#normalise');
    norm.value = this.normalise;
    norm.addEventListener('change', () => {
      this.normalise = NORMALISE_MODES.includes(norm.value) ? norm.value : 'track';
      localStorage.setItem('hs-normalise', this.normalise);
      this.applyGain();
    });
    const crossfade = $('#crossfade');
    crossfade.value = String(this.crossfade);
    crossfade.addEventListener('change', () => {
      this.crossfade = Math.min(CROSSFADE_MAX_S, Math.max(0, Number(crossfade.value) || 0));
      localStorage.setItem('hs-crossfade', String(this.crossfade));
      this.requeue(); // gapless laying of the next track is for crossfade off only
    });
    // Both decks report; only the one that plays counts.
    const active = (fn) => (e) => e.target === this.audio && fn(e);
    for (const deck of this.decks) {
      deck.addEventListener('timeupdate', active(() => this.onTime()));
      deck.addEventListener('seeked', active(() => this.onTime()));
      deck.addEventListener('durationchange', active(() => this.renderTime()));
      deck.addEventListener('play', active(() => this.changed()));
      deck.addEventListener('pause', active(() => this.changed()));
      deck.addEventListener('ended', active(() => this.onEnded()));
    }
    events.addEventListener('playback', (e) => this.onRemoteState(e.detail));
    events.addEventListener('playback:command', (e) => this.onRemoteState(e.detail.state));
    events.addEventListener('status', (e) => {
      if (e.detail.connected) this.sync();
    });
    this.bindMediaSession();
    this.render();
  }

  // -- queue ----------------------------------------------------------------------------------

  async playTracks(tracks, start = 0) {
    this.queue = tracks.slice();
    this.buildOrder(start);
    await this.load(this.current, { autoplay: true });
  }

  addNext(track) {
    if (!this.current) return this.playTracks([track]);
    this.queue.push(track);
    this.order.splice(this.pos + 1, 0, this.queue.length - 1);
    this.requeue();
    toast(`“${track.title}” plays next.`);
    this.changed();
  }

  addToQueue(track) {
    if (!this.current) return this.playTracks([track]);
    this.queue.push(track);
    this.order.push(this.queue.length - 1);
    this.requeue();
    toast(`“${track.title}” added to the queue.`);
    this.changed();
  }

  upcoming() {
    return this.order.slice(this.pos).map((i) => this.queue[i]);
  }

  async jump(offset) {
    this.pos += offset;
    await this.load(this.current, { autoplay: true });
  }

  buildOrder(start) {
    const indexes = this.queue.map((_, i) => i);
    if (this.shuffle) {
      const rest = indexes.filter((i) => i !== start);
      for (let i = rest.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [rest[i], rest[j]] = [rest[j], rest[i]];
      }
      this.order = [start, ...rest];
      this.pos = 0;
    } else {
      this.order = indexes;
      this.pos = start;
    }
  }

  setShuffle(on) {
    this.shuffle = on;
    if (this.queue.length) this.buildOrder(this.order[this.pos] ?? 0);
    this.requeue();
    this.changed();
  }

  cycleRepeat() {
    this.repeat = { off: 'all', all: 'one', one: 'off' }[this.repeat];
    this.requeue();
    this.changed();
  }

  /** The track that follows the current one, by the queue's order and the repeat mode. */
  following() {
    if (this.repeat === 'one' || this.pos < 0) return null;
    if (this.pos + 1 < this.order.length) return this.queue[this.order[this.pos + 1]];
    return this.repeat === 'all' && this.order.length > 1 ? this.queue[this.order[0]] : null;
  }

  onTime() {
    this.followTimeline();
    this.maybeCrossfade();
    this.renderTime();
    for (const fn of this.timeListeners) fn(this);
  }

  // -- crossfade ------------------------------------------------------------------------------

  /** Near the end of the track, start the next one on the other deck and fade between them. */
  maybeCrossfade() {
    if (!this.crossfade || this.fading || this.isRemote || this.audio.paused || !this.graph) return;
    const track = this.loaded;
    const next = this.following();
    if (!track || !next || next.status !== 'ready' || !track.duration_ms) return;
    const left = track.duration_ms / 1000 - this.localTime();
    if (left > this.crossfade || left <= 0.05) return;
    this.startCrossfade(next, left);
  }

  async startCrossfade(next, seconds) {
    const outgoing = { deck: this.audio, timeline: this.timeline, hls: this.hls };
    this.fading = outgoing;
    const incoming = this.decks.find((d) => d !== this.audio);
    const { ctx } = this.graph;
    try {
      const media = await this.mediaOf(next);
      if (this.fading !== outgoing) return;
      const timeline = gaplessSupported() ? new Timeline(incoming, () => {}) : null;
      if (!timeline) {
        this.fading = null;
        return;
      }
      await timeline.open(next, media, 0);
      if (this.fading !== outgoing) return timeline.close();
      // Hand over: the incoming deck is the player's from now on; the outgoing one fades out alone.
      this.audio = incoming;
      this.timeline = timeline;
      this.hls = null;
      this.pos = this.pos + 1 < this.order.length ? this.pos + 1 : 0;
      this.loaded = next;
      const fadeOut = this.graph.decks.get(outgoing.deck).fade.gain;
      const fadeIn = this.graph.decks.get(incoming).fade.gain;
      const now = ctx.currentTime;
      const length = Math.max(0.05, seconds);
      fadeOut.cancelScheduledValues(now);
      fadeOut.setValueAtTime(1, now);
      fadeOut.linearRampToValueAtTime(0, now + length);
      fadeIn.cancelScheduledValues(now);
      fadeIn.setValueAtTime(0, now);
      fadeIn.linearRampToValueAtTime(1, now + length);
      this.applyGain();
      await this.startAudio();
      outgoing.timer = setTimeout(() => this.endFade(outgoing), length * 1000 + 100);
      this.updateMediaSession(next);
      this.report('play', { track_id: next.id, position_ms: 0 });
      this.changed();
    } catch {
      if (this.fading === outgoing) this.fading = null;
    }
  }

  /** The outgoing track is silent (or the listener moved on): stop its deck and reset its fader. */
  endFade(outgoing = this.fading) {
    if (!outgoing) return;
    clearTimeout(outgoing.timer);
    if (this.fading === outgoing) this.fading = null;
    if (outgoing.deck === this.audio) return;
    outgoing.deck.pause();
    if (outgoing.timeline) outgoing.timeline.close();
    if (outgoing.hls) outgoing.hls.destroy();
    outgoing.deck.removeAttribute('src');
    if (this.graph) {
      const fade = this.graph.decks.get(outgoing.deck).fade.gain;
      fade.cancelScheduledValues(this.graph.ctx.currentTime);
      fade.setValueAtTime(1, this.graph.ctx.currentTime);
    }
  }

  /** What follows changed: the timeline drops what it laid after the current track and lays the new. */
  async requeue() {
    if (!this.timeline) return;
    await this.timeline.dropAfterCurrent();
    this.preloadNext();
  }

  /** Lay the following track on the timeline, so that it starts on the sample the current one ends. */
  async preloadNext() {
    const timeline = this.timeline;
    const next = this.following();
    if (!timeline || !next || next.status !== 'ready' || this.crossfade) return;
    const last = timeline.entries[timeline.entries.length - 1];
    if (!last || !this.loaded || last.track.id !== this.loaded.id) return; // already laid
    try {
      const media = await this.mediaOf(next);
      if (timeline === this.timeline && this.following() === next) await timeline.append(next, media);
    } catch {
      /* it is loaded the ordinary way when its turn comes */
    }
  }

  /** The playhead crossed into the next track laid on the timeline: it is the current one now. */
  followTimeline() {
    if (!this.timeline || this.audio.paused && this.audio.currentTime === 0) return;
    const entry = this.timeline.entryAt();
    if (!entry || !this.loaded || entry.track.id === this.loaded.id) return;
    const next = this.following();
    if (!next || next.id !== entry.track.id) return;
    this.pos = this.pos + 1 < this.order.length ? this.pos + 1 : 0;
    this.loaded = entry.track;
    this.applyGain();
    this.updateMediaSession(entry.track);
    this.report('play', { track_id: entry.track.id, position_ms: Math.round(this.localTime() * 1000) });
    this.changed();
    this.preloadNext();
  }

  async next() {
    if (this.isRemote) return;
    if (this.pos + 1 < this.order.length) return this.jump(1);
    if (this.repeat === 'all' && this.order.length) {
      this.pos = 0;
      return this.load(this.current, { autoplay: true });
    }
  }

  async previous() {
    if (this.isRemote) return;
    if (this.localTime() > 3 || this.pos <= 0) return this.seekTo(0);
    return this.jump(-1);
  }

  async onEnded() {
    if (this.repeat === 'one') return this.seekTo(0, { play: true });
    if (this.pos + 1 < this.order.length || this.repeat === 'all') return this.next();
    this.report('pause');
  }

  // -- loading and playing --------------------------------------------------------------------

  /**
   * The signed media URLs of ``track``, and the track itself brought up to date: lists and search
   * results may predate its loudness and gapless figures (an album's are written once its last track
   * is ready). A track that cannot be refreshed plays with what the list said.
   */
  async mediaOf(track) {
    const id = encodeURIComponent(track.id);
    const [media, fresh] = await Promise.all([get(`/tracks/${id}/media`), get(`/tracks/${id}`).catch(() => null)]);
    if (fresh) Object.assign(track, fresh);
    return media;
  }

  async hlsClass() {
    if (this.Hls === undefined) {
      try {
        this.Hls = (await import('/static/vendor/hls.js/hls.min.mjs')).default;
      } catch {
        this.Hls = null;
      }
    }
    return this.Hls;
  }

  async load(track, { autoplay = true, positionMs = 0, report = true, gapless = true } = {}) {
    if (!track) return;
    // Loads are sequenced: a later one (a fast second "next") wins, and an earlier one whose answer
    // arrives last must not start playing a track the bar no longer shows.
    const seq = (this.loadSeq = (this.loadSeq || 0) + 1);
    this.loading = track;
    this.changed();
    let media;
    try {
      media = await this.mediaOf(track);
    } catch (err) {
      if (seq === this.loadSeq) toast(`Cannot play “${track.title}”: ${errorText(err)}`, 'error');
      return;
    }
    if (seq !== this.loadSeq) return;
    this.endFade();
    const a = this.audio;
    if (this.hls) {
      this.hls.destroy();
      this.hls = null;
    }
    if (this.timeline) {
      this.timeline.close();
      this.timeline = null;
    }
    const start = positionMs / 1000;
    let timeline = null;
    if (track.status === 'ready' && gapless && gaplessSupported()) {
      timeline = new Timeline(a, () => this.timelineFailed(timeline, track));
      this.timeline = timeline;
      try {
        await timeline.open(track, media, positionMs);
      } catch {
        timeline.close();
        this.timeline = timeline = null;
      }
      if (seq !== this.loadSeq) return;
    }
    const Hls = !timeline && track.status === 'ready' ? await this.hlsClass() : null;
    if (seq !== this.loadSeq) return;
    if (timeline) {
      // Laid on the timeline above.
    } else if (Hls && Hls.isSupported()) {
      // MediaSource exists: hls.js picks the rung from measured bandwidth.
      const hls = new Hls({ startPosition: start, capLevelToPlayerSize: false });
      this.hls = hls;
      hls.on(Hls.Events.ERROR, (_, data) => {
        if (!data.fatal) return;
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
        else if (data.type === Hls.ErrorTypes.NETWORK_ERROR) hls.startLoad();
        else this.fallback(media, a.currentTime);
      });
      hls.loadSource(media.hls_url);
      hls.attachMedia(a);
    } else if (track.status === 'ready' && a.canPlayType('application/vnd.apple.mpegurl')) {
      a.src = media.hls_url; // Safari and iOS play HLS natively
      if (start) a.addEventListener('loadedmetadata', () => (a.currentTime = start), { once: true });
    } else {
      a.src = media.stream_url; // not transcoded yet, or no HLS at all: the original by byte ranges
      if (start) a.addEventListener('loadedmetadata', () => (a.currentTime = start), { once: true });
    }
    this.loaded = track;
    this.loading = null;
    this.remote = this.remote && { ...this.remote, device_id: deviceId, track_id: track.id };
    this.applyGain();
    this.updateMediaSession(track);
    this.changed();
    if (autoplay) {
      await this.startAudio();
      if (report) this.report('play', { track_id: track.id, position_ms: Math.round(positionMs) });
    }
    if (timeline) this.preloadNext();
  }

  /** The timeline could not go on (a segment that would not load or decode): hls.js from here. */
  timelineFailed(timeline, track) {
    if (timeline !== this.timeline) return;
    const current = this.loaded || track;
    const at = this.localTime() * 1000;
    this.timeline = null;
    this.load(current, { autoplay: !this.audio.paused, positionMs: at, report: false, gapless: false });
  }

  fallback(media, at) {
    if (this.timeline) this.timeline.close();
    this.timeline = null;
    if (this.hls) this.hls.destroy();
    this.hls = null;
    this.audio.src = media.stream_url;
    this.audio.currentTime = at || 0;
    this.startAudio();
  }

  async startAudio() {
    this.ensureGraph();
    if (this.graph && this.graph.ctx.state === 'suspended') this.graph.ctx.resume().catch(() => {});
    try {
      await this.audio.play();
    } catch (err) {
      if (err && err.name !== 'AbortError') toast('Press play to start.', 'info');
    }
  }

  async toggle() {
    if (this.isRemote) {
      return this.report(this.remote.is_playing ? 'pause' : 'resume');
    }
    if (!this.current) {
      if (this.remote && this.remote.track_id) return this.playHere();
      return;
    }
    if (this.audio.paused) {
      await this.startAudio();
      const mine = this.remote && this.remote.device_id === deviceId && this.remote.track_id === this.current.id;
      if (mine) this.report('resume');
      else this.report('play', { track_id: this.current.id, position_ms: Math.round(this.localTime() * 1000) });
    } else {
      this.audio.pause();
      this.endFade();
      this.report('pause');
    }
  }

  /** Where playback is, in ms: on the device that plays (another one, from the server's state). */
  positionMs() {
    return this.isRemote ? this.remotePositionMs() : this.localTime() * 1000;
  }

  /** Seek by ``deltaMs`` from where playback is, on whichever device plays. */
  seekBy(deltaMs) {
    return this.seekTo(Math.max(0, this.positionMs() + deltaMs));
  }

  async seekTo(ms, { play = false } = {}) {
    if (this.isRemote) return this.report('seek', { position_ms: Math.round(ms) });
    if (!this.current) return;
    if (this.timeline) this.timeline.seekLocal(ms / 1000);
    else this.audio.currentTime = ms / 1000;
    if (play) await this.startAudio();
    this.report('seek', { position_ms: Math.round(ms) });
    this.renderTime();
  }

  setVolume(v) {
    this.volume = Math.min(1, Math.max(0, v));
    localStorage.setItem('hs-volume', String(this.volume));
    $('#volume').value = String(Math.round(this.volume * 100));
    this.applyGain();
  }

  // -- even loudness ----------------------------------------------------------------------------

  /**
   * The gain for ``track`` in dB. Track mode brings its loudness to TARGET_LUFS; album mode brings its
   * album's loudness there (the same gain for every track of the album) and falls back to track mode
   * while the album has no figures. Either way the gain stops where the (album's) true peak would pass
   * PEAK_CEILING_DB: normalising never clips.
   */
  trackGainDb(track) {
    const l = track && track.loudness;
    if (this.normalise === 'off' || !l) return 0;
    const album = this.normalise === 'album' && typeof l.album_gain_db === 'number';
    // The API's gains are ReplayGain 2.0's (to -18 LUFS); the player's target is TARGET_LUFS.
    const gain = album ? l.album_gain_db : l.track_gain_db ?? (typeof l.integrated_lufs === 'number' ? -18 - l.integrated_lufs : null);
    if (typeof gain !== 'number') return 0;
    const peak = album ? l.album_true_peak_dbtp : l.true_peak_dbtp;
    let db = gain + (TARGET_LUFS + 18);
    if (typeof peak === 'number') db = Math.min(db, PEAK_CEILING_DB - peak);
    return db;
  }

  ensureGraph() {
    // Per deck: source → level (normalisation) → fade (crossfade) → speakers. A GainNode can raise quiet
    // tracks too; audio.volume alone could only lower loud ones.
    if (this.graph || this.graphFailed) return;
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) {
      this.graphFailed = true;
      return;
    }
    try {
      const ctx = new Ctx();
      const decks = new Map();
      for (const deck of this.decks) {
        const source = ctx.createMediaElementSource(deck);
        const level = ctx.createGain();
        const fade = ctx.createGain();
        source.connect(level).connect(fade).connect(ctx.destination);
        decks.set(deck, { level, fade });
      }
      this.graph = { ctx, decks };
    } catch {
      this.graphFailed = true;
    }
    this.applyGain();
  }

  applyGain() {
    const factor = Math.pow(10, this.trackGainDb(this.current || this.loaded) / 20);
    if (this.graph) {
      for (const deck of this.decks) deck.volume = this.volume;
      this.graph.decks.get(this.audio).level.gain.value = factor;
    } else {
      this.audio.volume = Math.min(1, this.volume * factor);
    }
    this.gainFactor = factor;
    this.audio.dataset.gain = factor.toFixed(3);
  }

  // -- devices ----------------------------------------------------------------------------------

  async report(action, body) {
    const paths = { play: '/playback/play', pause: '/playback/pause', resume: '/playback/resume', seek: '/playback/seek' };
    if (action === 'play') body = { ...body, device_id: deviceId };
    // Until the answer arrives, events describe older states and must not undo what the user just did.
    this.pending += 1;
    try {
      const state = await post(paths[action], body);
      this.pending -= 1;
      await this.onRemoteState(state, { own: true });
    } catch (err) {
      this.pending -= 1;
      if (err.status !== 409) toast(errorText(err), 'error');
    }
  }

  async sync() {
    try {
      this.onRemoteState(await get('/playback'));
    } catch {
      /* the next event brings the state */
    }
  }

  async onRemoteState(state, { own = false } = {}) {
    if (!own && this.pending > 0) return;
    if (!state || (this.remote && state.updated_at && this.remote.updated_at && state.updated_at < this.remote.updated_at)) return;
    this.remote = { ...state, received: performance.now() };
    const a = this.audio;
    if (state.device_id && state.device_id !== deviceId) {
      // Another device took over: this one stops.
      if (!a.paused) a.pause();
      this.endFade();
    } else if (state.device_id === deviceId && !own) {
      if (!state.is_playing && !a.paused) a.pause();
      else if (state.is_playing && state.track_id) {
        if (!this.current || this.current.id !== state.track_id) {
          const track = await this.fetchTrack(state.track_id);
          if (track) {
            this.queue = [track];
            this.buildOrder(0);
            await this.load(track, { autoplay: true, positionMs: state.position_ms, report: false });
          }
        } else if (a.paused) {
          await this.startAudio();
        }
      }
    }
    if (state.track_id && (!this.remoteTrack || this.remoteTrack.id !== state.track_id)) {
      this.remoteTrack = await this.fetchTrack(state.track_id);
    }
    this.changed();
  }

  async fetchTrack(id) {
    const known = this.queue.find((t) => t.id === id);
    if (known) return known;
    try {
      return await get(`/tracks/${encodeURIComponent(id)}`);
    } catch {
      return null;
    }
  }

  remotePositionMs() {
    const r = this.remote;
    if (!r) return 0;
    const elapsed = r.is_playing ? performance.now() - r.received : 0;
    return r.position_ms + elapsed;
  }

  async playHere() {
    const r = this.remote;
    if (!r || !r.track_id) return;
    const track = this.remoteTrack || (await this.fetchTrack(r.track_id));
    if (!track) return;
    const at = this.remotePositionMs();
    if (!this.current || this.current.id !== track.id) {
      this.queue = [track];
      this.buildOrder(0);
    }
    await this.load(track, { autoplay: true, positionMs: at });
  }

  // -- Media Session: OS media keys and the lock screen ----------------------------------------

  bindMediaSession() {
    if (!('mediaSession' in navigator)) return;
    const ms = navigator.mediaSession;
    const handlers = {
      play: () => this.toggle(),
      pause: () => this.toggle(),
      previoustrack: () => this.previous(),
      nexttrack: () => this.next(),
      seekbackward: () => this.seekBy(-10000),
      seekforward: () => this.seekBy(10000),
      seekto: (d) => this.seekTo(d.seekTime * 1000),
    };
    for (const [action, fn] of Object.entries(handlers)) {
      try {
        ms.setActionHandler(action, fn);
      } catch {
        /* not supported by this browser */
      }
    }
  }

  updateMediaSession(track) {
    if (!('mediaSession' in navigator) || !window.MediaMetadata) return;
    navigator.mediaSession.metadata = new MediaMetadata({
      title: track.title,
      artist: track.artist_name || '',
      album: track.album_title || '',
      artwork: track.cover_url ? [{ src: track.cover_url, sizes: '512x512', type: 'image/jpeg' }] : [],
    });
  }

  // -- drawing the bar ------------------------------------------------------------------------

  render() {
    const remote = this.isRemote;
    const track = remote ? this.remoteTrack : this.current || this.remoteTrack;
    const playing = remote ? this.remote.is_playing : !this.audio.paused;
    $('#player-title').textContent = track ? track.title : 'Nothing playing';
    $('#player-artist').textContent = track ? track.artist_name || '' : '';
    const coverBox = $('#player-cover');
    const url = track && track.cover_url;
    if (coverBox.dataset.url !== (url || '')) {
      coverBox.dataset.url = url || '';
      clear(coverBox, url ? h('img', { src: url, alt: '' }) : null);
    }
    const play = $('#btn-play');
    play.setAttribute('aria-label', playing ? 'Pause' : 'Play');
    $('#player').dataset.state = playing ? 'playing' : 'paused';
    const shuffle = $('#btn-shuffle');
    shuffle.setAttribute('aria-pressed', String(this.shuffle));
    const repeat = $('#btn-repeat');
    repeat.setAttribute('aria-pressed', String(this.repeat !== 'off'));
    repeat.setAttribute('aria-label', `Repeat: ${this.repeat}`);
    repeat.dataset.mode = this.repeat;
    $('#btn-next').disabled = remote || !(this.pos + 1 < this.order.length || (this.repeat === 'all' && this.order.length));
    $('#btn-prev').disabled = remote || !this.current;
    const label = $('#device-label');
    const here = $('#btn-play-here');
    if (remote) {
      label.textContent = `${playing ? 'Playing' : 'Paused'} on ${deviceLabel(this.remote.device_id)}`;
      here.hidden = false;
    } else {
      label.textContent = this.current && !this.audio.paused ? 'On this browser' : '';
      here.hidden = true;
    }
    $('#device').dataset.device = this.remote ? this.remote.device_id || '' : '';
    this.renderTime();
  }

  renderTime() {
    if (this.seeking) return;
    let current;
    let total;
    if (this.isRemote) {
      current = this.remotePositionMs();
      total = (this.remoteTrack && this.remoteTrack.duration_ms) || 0;
    } else {
      current = this.localTime() * 1000;
      const d = this.audio.duration;
      const track = this.loaded || this.current;
      if (this.timeline && track) total = track.duration_ms || 0;
      else total = Number.isFinite(d) ? d * 1000 : (this.current && this.current.duration_ms) || 0;
    }
    const seek = $('#seek');
    seek.max = String(Math.max(0, Math.round(total / 1000)));
    seek.value = String(Math.round(current / 1000));
    seek.setAttribute('aria-valuetext', `${formatTime(current)} of ${formatTime(total)}`);
    $('#time-current').textContent = formatTime(current);
    $('#time-total').textContent = formatTime(total);
    if ('mediaSession' in navigator && navigator.mediaSession.setPositionState && total > 0 && !this.isRemote) {
      try {
        navigator.mediaSession.setPositionState({ duration: total / 1000, position: Math.min(current, total) / 1000, playbackRate: 1 });
      } catch {
        /* position outside duration while loading */
      }
    }
  }
}

export const player = new Player();

// Remote position keeps moving between events.
setInterval(() => {
  if (player.isRemote && player.remote.is_playing) player.renderTime();
}, 1000);
