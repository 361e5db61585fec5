// Drives hls.js or dash.js for one session and records what a test (or a person) needs:
// every segment with its pathway, level switches, steering updates, errors, the end.
"use strict";

const state = { player: null, events: [], segments: [], ended: false, fatal: null, pathway: null, level: null };
window.edgefill = state;

function record(kind, detail) {
  const event = Object.assign({ kind: kind, at: performance.now() / 1000 }, detail || {});
  state.events.push(event);
  return event;
}

function show(id, text) { document.getElementById(id).textContent = String(text); }

function segment(type, pathway, level, bytes, url) {
  const host = url ? new URL(url, location.href).host : "";
  const row = { n: state.segments.length + 1, at: performance.now() / 1000, type, pathway, level, bytes, host };
  state.segments.push(row);
  const tr = document.createElement("tr");
  for (const key of ["n", "at", "type", "pathway", "level", "bytes", "host"]) {
    const td = document.createElement("td");
    td.textContent = key === "at" ? row.at.toFixed(1) : String(row[key]);
    tr.appendChild(td);
  }
  document.getElementById("segments").appendChild(tr);
  if (type === "video") {
    state.pathway = pathway;
    show("pathway", pathway);
  }
}

const params = new URLSearchParams(location.search);
// ?buffer=<s>: keep about this much media buffered (the tests keep it small, so that a
// throttled network or a stopped appliance shows up while the title still plays).
const bufferS = Number(params.get("buffer") || 0);
const video = document.getElementById("video");
video.addEventListener("ended", () => { state.ended = true; record("ended"); show("status", "ended"); });
video.addEventListener("playing", () => { record("playing"); show("status", "playing"); });
video.addEventListener("waiting", () => { record("waiting"); show("status", "buffering"); });

function playHls(url) {
  state.player = "hls.js " + Hls.version;
  show("player", state.player);
  if (!Hls.isSupported()) { state.fatal = "hls.js: MediaSource is not supported"; return; }
  const config = { debug: false, enableWorker: true, contentSteeringEnabled: true };
  if (bufferS > 0) {
    Object.assign(config, { maxBufferLength: bufferS, maxMaxBufferLength: bufferS * 1.5, backBufferLength: 10 });
  }
  const hls = new Hls(config);
  window.hls = hls;
  hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => record("manifest", { levels: data.levels.length }));
  hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => {
    state.level = data.level;
    show("level", data.level + " (" + (hls.levels[data.level] ? hls.levels[data.level].height + "p" : "?") + ")");
    record("level", { level: data.level, height: hls.levels[data.level] ? hls.levels[data.level].height : null });
  });
  hls.on(Hls.Events.STEERING_MANIFEST_LOADED, (_, data) => record("steering", {
    priority: data.steeringManifest && data.steeringManifest["PATHWAY-PRIORITY"],
  }));
  hls.on(Hls.Events.FRAG_LOADED, (_, data) => {
    const bytes = data.frag.stats ? data.frag.stats.loaded : 0;
    // An audio fragment comes from the audio group of the pathway playing at the time.
    const audio = data.frag.type === "audio";
    const level = hls.levels[audio ? hls.currentLevel : data.frag.level];
    const pathway = level ? (level.pathwayId || (level.attrs && level.attrs["PATHWAY-ID"]) || ".") : "?";
    segment(audio ? "audio" : "video", pathway, audio ? "audio" : (level ? level.height + "p" : "?"), bytes, data.frag.url);
  });
  hls.on(Hls.Events.ERROR, (_, data) => {
    record("error", { type: data.type, details: data.details, fatal: data.fatal, url: data.frag ? data.frag.url : (data.url || null) });
    if (data.fatal) { state.fatal = data.details; show("status", "fatal: " + data.details); }
  });
  hls.loadSource(url);
  hls.attachMedia(video);
  video.play().catch((e) => record("play-refused", { message: String(e) }));
}

function playDash(url) {
  const player = dashjs.MediaPlayer().create();
  window.dashPlayer = player;
  state.player = "dash.js " + player.getVersion();
  show("player", state.player);
  const streaming = { applyContentSteering: true };
  if (bufferS > 0) {
    streaming.buffer = { bufferTimeAtTopQuality: bufferS, bufferTimeAtTopQualityLongForm: bufferS, bufferTimeDefault: bufferS };
  }
  player.updateSettings({ streaming: streaming });
  const E = dashjs.MediaPlayer.events;
  player.on(E.QUALITY_CHANGE_RENDERED, (e) => {
    if (e.mediaType !== "video") return;
    const rep = e.newRepresentation || {};
    state.level = rep.id !== undefined ? rep.id : e.newQuality;
    show("level", state.level);
    record("level", { level: state.level, height: rep.height || null });
  });
  player.on(E.FRAGMENT_LOADING_COMPLETED, (e) => {
    const request = e.request || {};
    if (request.type !== "MediaSegment") return;
    const rep = request.representation || {};
    const bytes = e.response ? e.response.byteLength || 0 : 0;
    const type = request.mediaType === "audio" ? "audio" : "video";
    segment(type, request.serviceLocation || ".", rep.id || request.representationId || "?", bytes, request.url);
  });
  if (E.CONTENT_STEERING_REQUEST_COMPLETED) {
    player.on(E.CONTENT_STEERING_REQUEST_COMPLETED, (e) => record("steering", {
      priority: e.currentSteeringResponseData && e.currentSteeringResponseData.serviceLocationPriority,
    }));
  }
  // A download that failed on one service location is retried on the next BaseURL (and a
  // failed steering request keeps the last answer): recorded, not fatal. Anything else is.
  const errors = dashjs.MediaPlayer.errors || {};
  const recoverable = new Set([
    errors.DOWNLOAD_ERROR_ID_CONTENT_CODE, errors.DOWNLOAD_ERROR_ID_SIDX_CODE,
    errors.DOWNLOAD_ERROR_ID_INITIALIZATION_CODE,
  ].filter((code) => code !== undefined));
  player.on(E.ERROR, (e) => {
    const error = e.error || {};
    const steering = String(error.message || "").indexOf("/steering/") >= 0;
    record("error", { code: error.code || null, message: error.message || String(error), fatal: !(steering || recoverable.has(error.code)) });
    if (!(steering || recoverable.has(error.code))) {
      state.fatal = error.message || "dash.js error " + (error.code || "");
      show("status", "error: " + state.fatal);
    }
  });
  player.on(E.PLAYBACK_ENDED, () => { state.ended = true; record("ended"); show("status", "ended"); });
  player.initialize(video, url, true);
}

if (params.get("hls")) {
  playHls(params.get("hls"));
} else if (params.get("dash")) {
  playDash(params.get("dash"));
} else {
  show("status", "open this page with ?hls=<multivariant playlist URL> or ?dash=<MPD URL>");
}
