// twisted_chat's page: the WebSocket at ./ws, the server's events, and the
// input line. The server sends one JSON object per line (README.rst, "The
// browser page"); the page sends each typed line as it is, so /commands
// work exactly as over telnet. What the page shows is view.js's.

import { View } from "./view.js";

const SCHEMA = 1; // the JSON events this page knows (welcome's "schema")
const MOST_HISTORY = 100; // typed lines Up and Down go through
const FIRST_RETRY = 0.5; // seconds before the first reconnection attempt
const LAST_RETRY = 15; // the longest wait between attempts
// Lines that hold a password: never kept for Up/Down, masked when shown.
const SECRET = /^\/(login|register|password)(\s|$)/i;
const CLOSE_ENDED = 1000; // the server ended this session: stay away

const $ = (id) => document.getElementById(id);
const input = $("input");

const state = {
  socket: null,
  wantedName: "", // the name to take back after a reconnection
  wantedRoom: "", // the room we are in, to come back to
  rejoin: "", // after a reconnection: the room to go back to, once
  retries: 0,
  retryTimer: null,
  ever: false, // connected at least once
  asked: { who: 0, rooms: 0 }, // answers the page asked for itself
};

const view = new View({
  join(room) {
    if (room !== view.room) send(`/join ${room}`, { shown: true });
    input.focus();
  },
  write(name) {
    input.value = `/msg ${name} `;
    input.focus();
  },
});

// Events from the server, by type

// Asks for the room list or who is here, for the side panel only.
function ask(what) {
  state.asked[what] += 1;
  send(`/${what}`);
}

const handlers = {
  said(event) {
    for (const text of event.texts) view.said(event.name, text);
  },
  acted(event) {
    view.acted(event.name, event.text);
  },
  whispered(event) {
    view.privately("from", event.name, event.text, `${event.name}, privately: ${event.text}`);
  },
  whisper_sent(event) {
    view.privately("to", event.name, event.text);
  },
  joined(event) {
    view.notice(event.text);
    view.whoChanged(null, event.name);
  },
  left(event) {
    view.notice(event.text);
    view.whoChanged(event.name, null);
  },
  renamed(event) {
    view.notice(event.text);
    view.whoChanged(event.old, event.new);
  },
  your_name(event) {
    view.notice(event.text);
    const old = view.me;
    view.setMe(event.name);
    // The name to ask for again after a reconnection (a guest name is not).
    state.wantedName = /^guest\d+$/i.test(event.name) ? "" : event.name;
    view.whoChanged(old, event.name);
  },
  welcome(event) {
    view.setServer(event.server);
    view.setMe(event.name);
    view.notice(event.text);
    if (event.schema > SCHEMA) view.clientNote("This page is older than the server: reload it.");
    state.rejoin = state.wantedRoom;
    if (state.wantedName && state.wantedName.toLowerCase() !== event.name.toLowerCase()) {
      send(`/nick ${state.wantedName}`);
    }
  },
  now_in(event) {
    view.notice(event.text);
    view.setRoom(event.room);
    view.setTopic("");
    view.showWho([]);
    const back = state.rejoin;
    state.rejoin = "";
    if (back && back.toLowerCase() !== event.room.toLowerCase()) {
      send(`/join ${back}`);
      return;
    }
    state.wantedRoom = event.room;
    ask("who");
    ask("rooms");
  },
  topic_is(event) {
    view.notice(event.text);
    view.setTopic(event.topic);
  },
  topic_set(event) {
    view.notice(event.text);
    view.setTopic(event.topic);
  },
  backlog(event) {
    view.history(event.text, event.lines, event.now);
  },
  rooms(event) {
    view.showRooms(event.rooms);
    if (state.asked.rooms > 0) {
      state.asked.rooms -= 1;
      return;
    }
    view.notice(event.text);
    for (const room of event.rooms) {
      view.notice(`  #${room.name}: ${room.count} here${room.topic ? `; topic: ${room.topic}` : ""}`);
    }
    if (event.count > event.rooms.length) view.notice(`  and ${event.count - event.rooms.length} more`);
  },
  who(event) {
    if (!event.room) view.showWho(event.names);
    if (state.asked.who > 0 && !event.room) {
      state.asked.who -= 1;
      return;
    }
    view.notice(event.text);
  },
};

function receive(event) {
  if (typeof event !== "object" || event === null || typeof event.type !== "string") return;
  const handler = Object.hasOwn(handlers, event.type) ? handlers[event.type] : null;
  if (handler) {
    handler(event);
  } else if (typeof event.text === "string") {
    // Every other event is a line of the server's: a notice, or an error.
    if (event.error) view.problem(event.text);
    else view.notice(event.text);
  }
}

// The connection, and coming back after losing it

function socketAddress() {
  const address = new URL("ws", document.baseURI);
  address.protocol = address.protocol === "https:" ? "wss:" : "ws:";
  return address.href;
}

function connect() {
  clearTimeout(state.retryTimer);
  state.retryTimer = null;
  $("reconnect").hidden = true;
  view.setStatus(state.ever ? "Reconnecting\u2026" : "Connecting\u2026", false);
  const socket = new WebSocket(socketAddress());
  state.socket = socket;
  state.asked = { who: 0, rooms: 0 };
  socket.addEventListener("open", () => {
    if (state.ever) view.clientNote("Connected again.");
    state.ever = true;
    state.retries = 0;
    view.setStatus("Connected", false);
  });
  socket.addEventListener("message", (message) => {
    if (typeof message.data !== "string") return;
    for (const line of message.data.split("\n")) {
      if (!line) continue;
      let event;
      try {
        event = JSON.parse(line);
      } catch {
        continue;
      }
      receive(event);
    }
  });
  socket.addEventListener("close", (closed) => {
    if (state.socket !== socket) return;
    state.socket = null;
    if (closed.code === CLOSE_ENDED) {
      // The server ended the session (quit, idle, kicked, refused): the
      // reason came before the close. Coming back is the person's choice.
      view.setStatus("Disconnected", true);
      view.clientNote("Disconnected by the server.");
      showReconnect("Connect again");
      return;
    }
    // Lost, or the server going away (1001, a restart): back by itself.
    const wait = Math.min(LAST_RETRY, FIRST_RETRY * 2 ** state.retries);
    state.retries += 1;
    const shown = wait < 1 ? "a moment" : `${Math.round(wait)} s`;
    view.setStatus(`Connection lost; reconnecting in ${shown}`, true);
    if (state.retries === 1) view.clientNote(`Connection lost; reconnecting in ${shown}.`);
    showReconnect("Connect now");
    state.retryTimer = setTimeout(connect, wait * 1000 * (0.8 + Math.random() * 0.4));
  });
}

function showReconnect(label) {
  const button = $("reconnect");
  button.textContent = label;
  button.hidden = false;
}

function send(line, options = {}) {
  const socket = state.socket;
  if (socket === null || socket.readyState !== WebSocket.OPEN) {
    view.clientNote("Not connected; line not sent.");
    return false;
  }
  socket.send(line);
  if (options.shown) view.typed(line);
  return true;
}

// The input line: what is typed, and Up/Down through what was sent

const typed = [];
let browsing = 0;
let draft = "";

// The server does not send people their own lines: the page shows them,
// as a terminal does (what the server refused, it says so after them).
function sendTyped(line) {
  if (!send(line)) return;
  if (!line.startsWith("/") || line.startsWith("//")) {
    view.said(view.me, line.startsWith("//") ? line.slice(1) : line);
    return;
  }
  const [word, ...rest] = line.slice(1).split(" ");
  const argument = rest.join(" ").trim();
  if (word.toLowerCase() === "me" && argument) view.acted(view.me, argument);
  else view.typed(SECRET.test(line) ? `/${word} \u2022\u2022\u2022` : line);
  if (word.toLowerCase() === "quit") state.wantedName = "";
}

$("form").addEventListener("submit", (submitted) => {
  submitted.preventDefault();
  const line = input.value;
  if (!line.trim()) return;
  input.value = "";
  if (!SECRET.test(line) && typed[typed.length - 1] !== line) {
    typed.push(line);
    if (typed.length > MOST_HISTORY) typed.shift();
  }
  browsing = typed.length;
  draft = "";
  sendTyped(line);
});

input.addEventListener("keydown", (key) => {
  if (key.key === "ArrowUp" && browsing > 0) {
    if (browsing === typed.length) draft = input.value;
    browsing -= 1;
    input.value = typed[browsing];
  } else if (key.key === "ArrowDown" && browsing < typed.length) {
    browsing += 1;
    input.value = browsing === typed.length ? draft : typed[browsing];
  } else {
    return;
  }
  key.preventDefault();
  input.setSelectionRange(input.value.length, input.value.length);
});

$("reconnect").addEventListener("click", () => {
  state.retries = 0;
  connect();
});

$("rooms-refresh").addEventListener("click", () => {
  if (state.socket) ask("rooms");
});

$("panel-toggle").addEventListener("click", () => {
  const follow = view.atBottom();
  const open = $("side").classList.toggle("open");
  $("panel-toggle").setAttribute("aria-expanded", String(open));
  // The conversation shrinks or grows: keep the newest line in sight.
  if (follow) view.log.scrollTop = view.log.scrollHeight;
});

document.addEventListener("keydown", (key) => {
  // Escape anywhere: back to the message line.
  if (key.key === "Escape" && document.activeElement !== input) input.focus();
});

connect();
input.focus();
