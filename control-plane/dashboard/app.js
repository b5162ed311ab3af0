// The dashboard's live connection: one EventSource on /api/events (authorised by the cookie /dashboard set),
// each `state` event a full snapshot that render.js draws; the browser reconnects by itself after a drop.
import { render } from './render.js';

const connection = document.getElementById('connection');

function show(state, text) {
  connection.dataset.state = state;
  connection.textContent = text;
}

const events = new EventSource('/api/events');
events.addEventListener('state', (e) => {
  render(JSON.parse(e.data), Date.now());
  show('live', `live · updated ${new Date().toLocaleTimeString()}`);
});
events.addEventListener('error', () => {
  // CLOSED means the server refused the stream (the cookie expired or the token changed): only a new token helps.
  if (events.readyState === EventSource.CLOSED)
    show('closed', 'disconnected: open /dashboard?token=ADMIN_TOKEN');
  else show('reconnecting', 'reconnecting…');
});
