// Server-sent events from /api/v1/stream over fetch() (EventSource cannot send the Authorization
// header, and the token must never go in a query string). Parses the event stream format from the
// response body and reconnects with backoff.

import { authHeaders, url, hooks } from './api.js';

/** Feed text chunks; calls onEvent(name, data) per complete event. */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buf = '';
    this.event = '';
    this.data = [];
  }

  push(chunk) {
    this.buf += chunk;
    let i;
    // A line ends with CRLF, LF or CR; a CR at the very end may be the start of a CRLF.
    while ((i = this.buf.search(/\r\n|\n|\r(?!$)/)) >= 0) {
      const line = this.buf.slice(0, i);
      const len = this.buf.startsWith('\r\n', i) ? 2 : 1;
      this.buf = this.buf.slice(i + len);
      this.line(line);
    }
  }

  line(line) {
    if (line === '') {
      if (this.data.length) this.onEvent(this.event || 'message', this.data.join('\n'));
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const c = line.indexOf(':');
    const field = c < 0 ? line : line.slice(0, c);
    let value = c < 0 ? '' : line.slice(c + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
  }
}

const live = { open: 0 };

function showLive(state) {
  const el = document.getElementById('live');
  if (!el) return;
  el.hidden = false;
  el.className = `live ${state}`;
  el.textContent = state === 'connected' ? 'Live' : state === 'reconnecting' ? 'Reconnecting…' : 'Offline';
  el.title = state === 'connected' ? 'Receiving changes as they happen' : 'The change stream is not connected';
}

/**
 * Subscribe to changes. `params`: {environment, application}. `onMessage(msg)` gets each
 * StreamMessage; `onReconnect()` is called after a reconnection or a `resync` event (the page
 * should refetch, as changes were missed). Stops when `signal` aborts.
 */
export function subscribe(params, onMessage, signal, onReconnect) {
  let delay = 500;
  let connectedBefore = false;
  const run = async () => {
    while (!signal.aborted) {
      try {
        const res = await fetch(url('stream', params), {
          headers: authHeaders({ Accept: 'text/event-stream' }),
          signal,
          cache: 'no-store',
          credentials: 'omit',
        });
        if (res.status === 401) { hooks.unauthorized('401'); return; }
        if (!res.ok || !res.body) throw new Error(`stream: ${res.status}`);
        live.open++;
        showLive('connected');
        if (connectedBefore && onReconnect) onReconnect();
        connectedBefore = true;
        delay = 500;
        const parser = new SseParser((name, data) => {
          // The server dropped changes for this slow client: refetch what the page shows.
          if (name === 'resync') { if (onReconnect) onReconnect(); return; }
          let msg;
          try { msg = JSON.parse(data); } catch { return; }
          if (name === 'application' || name === 'environment' || name === 'message') onMessage(msg);
        });
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            parser.push(value);
          }
        } finally {
          live.open--;
        }
      } catch (e) {
        if (signal.aborted) return;
      }
      if (signal.aborted) return;
      showLive('reconnecting');
      await new Promise((r) => setTimeout(r, delay + Math.random() * 250));
      delay = Math.min(delay * 2, 10000);
    }
  };
  run();
}
