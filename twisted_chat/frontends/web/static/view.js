// What the page shows: the conversation, the header, the room list and who
// is here. Every piece of text goes in with textContent or as a text node,
// never as HTML, so nothing anyone types can become markup or script.

import { nameColour } from "./colours.js";

const MOST_LINES = 1000; // kept in the log; older ones go
const $ = (id) => document.getElementById(id);

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function bare(name) {
  return name.replace(/^@/, ""); // "@" marks a room operator in /who
}

function nameNode(name) {
  return el("span", `name n-${nameColour(bare(name))}`, name);
}

// The name before what someone said; a screen reader hears "alice: hi".
function speakerNode(name) {
  const node = nameNode(name);
  node.append(el("span", "visually-hidden", ": "));
  return node;
}

function two(number) {
  return String(number).padStart(2, "0");
}

// "21:30" for a time on the day of `now`, else "2026-11-30 21:30", as telnet.
function clock(seconds, now) {
  const when = new Date(seconds * 1000);
  const today = now === undefined ? new Date() : new Date(now * 1000);
  const hhmm = `${two(when.getHours())}:${two(when.getMinutes())}`;
  if (when.toDateString() === today.toDateString()) return hhmm;
  return `${when.getFullYear()}-${two(when.getMonth() + 1)}-${two(when.getDate())} ${hhmm}`;
}

export class View {
  // `actions.join(room)` and `actions.write(name)`: what a click on a room
  // or a person asks for.
  constructor(actions) {
    this.actions = actions;
    this.log = $("log");
    this.announcer = $("announce");
    this.me = "";
    this.room = "";
    this.server = "";
    this.whoNames = [];
  }

  // The conversation

  atBottom() {
    return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
  }

  // One line; `options.spoken`, if given, is what a screen reader hears.
  addLine(classes, parts, options = {}) {
    const follow = this.atBottom();
    const item = el("li", classes);
    const seconds = options.time ?? Date.now() / 1000;
    const time = el("time", "", clock(seconds, options.now));
    time.dateTime = new Date(seconds * 1000).toISOString();
    item.append(time);
    for (const part of parts) {
      item.append(typeof part === "string" ? document.createTextNode(part) : part);
    }
    this.log.append(item);
    while (this.log.childElementCount > MOST_LINES) this.log.firstElementChild.remove();
    if (follow) this.log.scrollTop = this.log.scrollHeight;
    if (options.spoken) this.say(options.spoken);
    return item;
  }

  // New live lines for screen readers: the live region holds the last few.
  say(words) {
    this.announcer.append(el("div", "", words));
    while (this.announcer.childElementCount > 3) this.announcer.firstElementChild.remove();
  }

  notice(text, extra = "") {
    this.addLine(`notice ${extra}`.trim(), [el("span", "text", text)], { spoken: text });
  }

  problem(text) {
    this.addLine("error", [el("span", "text", text)], { spoken: text });
  }

  clientNote(text) {
    this.addLine("client", [el("span", "text", text)], { spoken: text });
  }

  typed(line) {
    this.addLine("typed", [el("span", "text", line)]);
  }

  isMe(name) {
    return name.toLowerCase() === this.me.toLowerCase();
  }

  said(name, text, options = {}) {
    const own = this.isMe(name);
    const classes = ["said", own ? "own" : "", options.history ? "history" : ""];
    this.addLine(classes.join(" ").trim(), [speakerNode(name), el("span", "text", text)], {
      time: options.time,
      now: options.now,
      spoken: options.history || own ? "" : `${name}: ${text}`,
    });
  }

  acted(name, text, options = {}) {
    const own = this.isMe(name);
    const classes = ["acted", own ? "own" : "", options.history ? "history" : ""];
    this.addLine(classes.join(" ").trim(), ["* ", nameNode(name), " ", el("span", "text", text)], {
      time: options.time,
      now: options.now,
      spoken: options.history || own ? "" : `${name} ${text}`,
    });
  }

  privately(direction, name, text, spoken) {
    const mark = el("span", "mark", direction === "from" ? "private from" : "private to");
    const classes = direction === "from" ? "private" : "private own";
    this.addLine(classes, [mark, " ", speakerNode(name), el("span", "text", text)], { spoken });
  }

  // A replay of history: set apart, between two rules.
  history(head, lines, now) {
    this.notice(head, "history-head");
    let last = null;
    for (const line of lines) {
      const options = { history: true, time: line.time, now };
      if (line.kind === "acted") this.acted(line.name, line.text, options);
      else this.said(line.name, line.text, options);
      last = this.log.lastElementChild;
    }
    if (last) last.classList.add("history-end");
  }

  // The header

  setServer(server) {
    this.server = server;
    $("title").textContent = server;
  }

  setMe(name) {
    this.me = name;
    $("me").textContent = name;
    $("me").className = `n-${nameColour(name)}`;
  }

  setRoom(room) {
    this.room = room;
    $("room-name").textContent = `#${room}`;
    document.title = this.server ? `#${room} \u2014 ${this.server}` : `#${room}`;
    for (const button of $("rooms").querySelectorAll("button")) {
      button.setAttribute("aria-current", String(button.dataset.room === room));
    }
  }

  setTopic(topic) {
    $("topic").textContent = topic;
  }

  setStatus(text, down) {
    $("status").textContent = text;
    $("status").classList.toggle("down", Boolean(down));
  }

  // The room list and who is here

  showRooms(rooms) {
    const list = $("rooms");
    list.replaceChildren();
    for (const room of rooms) {
      const button = el("button");
      button.type = "button";
      button.dataset.room = room.name;
      button.setAttribute("aria-current", String(room.name === this.room));
      button.append(el("span", "room-name", `#${room.name}`));
      button.append(el("span", "room-count", `${room.count} here`));
      if (room.topic) button.append(el("span", "room-topic", room.topic));
      button.addEventListener("click", () => this.actions.join(room.name));
      const item = el("li");
      item.append(button);
      list.append(item);
    }
  }

  showWho(names) {
    const byName = (a, b) => bare(a).localeCompare(bare(b), undefined, { sensitivity: "base" });
    this.whoNames = [...names].sort(byName);
    const list = $("who");
    list.replaceChildren();
    for (const shown of this.whoNames) {
      const name = bare(shown);
      const operator = shown.startsWith("@");
      const button = el("button");
      button.type = "button";
      button.setAttribute("aria-label", `${name}${operator ? ", operator" : ""}: write privately`);
      if (operator) button.append(el("span", "op", "@"));
      button.append(el("span", `name n-${nameColour(name)}`, name));
      button.addEventListener("click", () => this.actions.write(name));
      const item = el("li");
      item.append(button);
      list.append(item);
    }
  }

  // Someone left (`leaving`), came (`arriving`), or both (a rename); null
  // for neither. An operator keeps the "@" through a rename.
  whoChanged(leaving, arriving) {
    const same = (a, b) => bare(a).toLowerCase() === b.toLowerCase();
    const wasOperator = leaving !== null && this.whoNames.includes(`@${leaving}`);
    let names = this.whoNames.filter((n) => leaving === null || !same(n, leaving));
    if (arriving !== null && !names.some((n) => same(n, arriving))) {
      names = [...names, wasOperator ? `@${arriving}` : arriving];
    }
    this.showWho(names);
  }
}
