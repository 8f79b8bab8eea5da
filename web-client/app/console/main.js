// The ombud console (`/`): sign in (password or institution), set the name
// parties see, list and create rooms (with what waits in each), and run one
// room: a list of threads (each party, Joint, Notes) beside one conversation
// pane, the relays and the tools beside that, the relay workflow
// (redact, edit, preview, consent, status), referrals, co-ombuds, categories,
// transcript, closing the room, and the trends report. It speaks the
// ombud's language (i18n.js): chosen in the top bar, else the browser's.
//
// This entry point owns the console's state and wires the modules beside it,
// one concern each. They keep no state of their own: every function that
// needs it is handed `app`. They call one another (signing out closes the
// room and routes; a room reports an expired session), so some imports go
// both ways; that is safe because no module does anything when imported:
// the `wire…` calls below attach the listeners, then the page starts.

import { loadAuth, wireSession, finishInstitutionSignIn, loadSignInOptions } from './session.js';
import { route, wireRouting } from './routing.js';
import { wireRooms } from './rooms.js';
import { wireRoomView } from './room-view.js';
import { wireTools } from './tools.js';
import { wireTrends } from './trends-view.js';
import { wireProfile } from './profile.js';
import { wireAttention, refreshAttention } from './attention.js';
import { wireOneText } from './onetext.js';
import { wireIntake } from './intake.js';
import { $, wireLanguage } from '../dom.js';

const app = {
  auth: { token: null, ombud: null }, // see session.js
  office: null, // GET /api/office, loaded once per sign-in
  room: null, // the open room (room-state.js), or null
  rooms: [], // the room list as last fetched (attention.js polls it)
};

// The console's language: the one this browser chose before, else the
// browser's own; the room list and what needs attention are drawn again.
await wireLanguage($('#language'), () => refreshAttention(app));
wireSession(app);
wireRouting(app);
wireRooms(app);
wireRoomView(app);
wireTools(app);
wireTrends(app);
wireProfile(app);
wireAttention(app);
wireOneText(app);
wireIntake(app);

loadAuth(app);
await finishInstitutionSignIn(app);
route(app);
loadSignInOptions();
