// The lyrics panel: the playing track's lyrics; synced lines follow playback and seek when clicked.

import { get } from './api.js';
import { $, clear, h } from './dom.js';
import { player } from './player.js';

class LyricsPanel {
  constructor() {
    this.trackId = null; // whose lyrics the panel holds
    this.lines = []; // [{start_ms, el}] of synced lyrics, in time order
    this.current = -1;
  }

  bind() {
    this.panel = $('#lyrics');
    this.body = $('#lyrics-lines');
    this.button = $('#btn-lyrics');
    this.button.addEventListener('click', () => this.toggle());
    $('#btn-lyrics-close').addEventListener('click', () => this.toggle(false));
    player.onChange(() => this.panel.hidden || this.show(player.shownTrackId));
    player.onTimeUpdate(() => this.follow());
  }

  toggle(open = this.panel.hidden) {
    this.panel.hidden = !open;
    this.button.setAttribute('aria-pressed', String(open));
    if (open) this.show(player.shownTrackId);
  }

  async show(trackId) {
    if (trackId === this.trackId) return;
    this.trackId = trackId;
    this.lines = [];
    this.current = -1;
    if (!trackId) return clear(this.body, h('p', { class: 'muted' }, 'Nothing playing.'));
    clear(this.body, h('p', { class: 'muted' }, 'Loading…'));
    let lyrics;
    try {
      lyrics = await get(`/tracks/${encodeURIComponent(trackId)}/lyrics`);
    } catch (err) {
      if (trackId !== this.trackId) return;
      const text = err.status === 404 ? 'No lyrics for this track.' : 'The lyrics could not be loaded.';
      return clear(this.body, h('p', { class: 'muted' }, text));
    }
    if (trackId !== this.trackId) return; // another track started meanwhile
    this.body.dataset.synced = String(lyrics.synced);
    if (lyrics.lang) this.body.setAttribute('lang', lyrics.lang);
    else this.body.removeAttribute('lang');
    const items = lyrics.lines.map((line) => {
      if (!lyrics.synced) return h('p', { class: line.text ? 'lyric' : 'lyric gap' }, line.text);
      const el = h(
        'button',
        { type: 'button', class: 'lyric', dataset: { start: line.start_ms }, onclick: () => player.seekTo(line.start_ms) },
        line.text || '♪',
      );
      this.lines.push({ start_ms: line.start_ms, el });
      return el;
    });
    clear(this.body, items);
    this.follow();
  }

  /** Mark the line being sung: the last one that started at or before the playback position. */
  follow() {
    if (!this.lines.length || this.panel.hidden || player.shownTrackId !== this.trackId) return;
    const at = player.positionMs();
    let i = -1;
    for (let k = 0; k < this.lines.length && this.lines[k].start_ms <= at; k++) i = k;
    if (i === this.current) return;
    if (this.current >= 0) this.lines[this.current].el.removeAttribute('aria-current');
    this.current = i;
    if (i >= 0) {
      const el = this.lines[i].el;
      el.setAttribute('aria-current', 'true');
      el.scrollIntoView({ block: 'center', behavior: 'smooth' });
    }
  }
}

export const lyricsPanel = new LyricsPanel();
