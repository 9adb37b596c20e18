// The whisper-api page: uploads to POST /v1/listen, and the microphone to the /v1/listen WebSocket.
// Server text is only ever set as textContent, never parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const needsKey = document.body.dataset.auth !== "none";
let chosenFile = null;
let live = null;

function key() {
  return $("key").value.trim();
}

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function query(extra = {}) {
  const params = new URLSearchParams();
  if ($("model").value) params.set("model", $("model").value);
  const language = $("language").value.trim();
  if (language) params.set("language", language);
  for (const name of ["punctuate", "diarize", "utterances"]) {
    if ($(name).checked) params.set(name, "true");
  }
  for (const [name, value] of Object.entries(extra)) params.set(name, value);
  return params;
}

function authHeaders() {
  return needsKey && key() ? { Authorization: `Token ${key()}` } : {};
}

async function failure(response) {
  try {
    const body = await response.json();
    return body.err_msg || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

async function loadModels() {
  try {
    const response = await fetch("/v1/models", { headers: authHeaders() });
    if (!response.ok) return;
    const listing = await response.json();
    for (const model of listing.stt || []) {
      const option = document.createElement("option");
      option.value = option.textContent = model.canonical_name || model.name;
      $("model").append(option);
    }
  } catch {
    // the page works without the list: the server's default model is used
  }
}

function showWords(words) {
  const body = $("words").querySelector("tbody");
  body.replaceChildren();
  for (const word of words) {
    const row = document.createElement("tr");
    for (const value of [word.start.toFixed(2), word.end.toFixed(2), word.speaker ?? "",
                         word.punctuated_word || word.word, word.confidence.toFixed(3)]) {
      const cell = document.createElement("td");
      cell.textContent = value;
      row.append(cell);
    }
    body.append(row);
  }
  $("words").hidden = words.length === 0;
}

function label(text) {
  const span = document.createElement("span");
  span.className = "speaker";
  span.textContent = text;
  return span;
}

function showTranscript(result) {
  const alternative = result.results.channels[0].alternatives[0];
  const box = $("transcript");
  box.replaceChildren();
  const paragraphs = alternative.paragraphs?.paragraphs;
  const utterances = result.results.utterances;
  if (utterances) {
    for (const utterance of utterances) {
      const who = utterance.speaker === undefined ? "" : ` Speaker ${utterance.speaker}`;
      box.append(label(`[${utterance.start.toFixed(1)}–${utterance.end.toFixed(1)} s]${who}: `),
                 utterance.transcript, "\n");
    }
  } else if (paragraphs && paragraphs.some((paragraph) => paragraph.speaker !== undefined)) {
    for (const paragraph of paragraphs) {
      box.append(label(`Speaker ${paragraph.speaker}: `), paragraph.sentences.map((sentence) => sentence.text).join(" "),
                 "\n");
    }
  } else {
    box.textContent = alternative.transcript;
  }
  showWords(alternative.words);
}

async function transcribe(format) {
  const params = query(format === "json" || !format ? {} : { format });
  if ($("diarize").checked) params.set("paragraphs", "true");
  const response = await fetch(`/v1/listen?${params}`, { method: "POST", body: chosenFile, headers: authHeaders() });
  if (!response.ok) throw new Error(await failure(response));
  return response;
}

async function onTranscribe() {
  status(`Transcribing ${chosenFile.name}…`);
  $("transcribe").disabled = true;
  try {
    const result = await (await transcribe()).json();
    showTranscript(result);
    $("downloads").hidden = false;
    status(`Done: ${result.metadata.duration.toFixed(1)} s of audio.`);
  } catch (error) {
    status(error.message, true);
  } finally {
    $("transcribe").disabled = false;
  }
}

async function onDownload(event) {
  const format = event.target.dataset.format;
  if (!format) return;
  status(`Preparing ${format.toUpperCase()}…`);
  try {
    const blob = await (await transcribe(format)).blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `${chosenFile.name.replace(/\.[^.]+$/, "")}.${format}`;
    link.click();
    URL.revokeObjectURL(link.href);
    status(`Saved ${link.download}.`);
  } catch (error) {
    status(error.message, true);
  }
}

function choose(file) {
  chosenFile = file;
  $("transcribe").disabled = !file;
  $("downloads").hidden = true;
  if (file) status(`${file.name}: ready.`);
}

// Live: MediaRecorder's WebM/Opus straight to the WebSocket; the server sniffs the container.
function liveLine() {
  const box = $("transcript");
  let interim = box.querySelector(".interim");
  if (!interim) {
    interim = document.createElement("span");
    interim.className = "interim";
    box.append(interim);
  }
  return interim;
}

function onLiveMessage(event) {
  const message = JSON.parse(event.data);
  const box = $("transcript");
  if (message.type === "Results") {
    const alternative = message.channel.alternatives[0];
    const interim = liveLine();
    if (message.is_final) {
      interim.remove();
      if (alternative.transcript) box.append(`${alternative.transcript} `);
      if (message.speech_final && alternative.transcript) box.append("\n");
    } else {
      interim.textContent = alternative.transcript;
    }
  } else if (message.type === "UtteranceEnd") {
    box.append("\n");
  } else if (message.type === "Error") {
    status(message.description || "error", true);
  }
}

async function onStart() {
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    status(`No microphone: ${error.message}`, true);
    return;
  }
  const params = query({ interim_results: "true", utterance_end_ms: "1000", endpointing: "300" });
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/listen?${params}`;
  const socket = needsKey ? new WebSocket(url, ["token", key()]) : new WebSocket(url);
  const recorder = new MediaRecorder(stream, { mimeType: "audio/webm;codecs=opus" });
  live = { socket, recorder, stream };
  $("transcript").replaceChildren();
  $("words").hidden = true;
  socket.onmessage = onLiveMessage;
  socket.onerror = () => status("The live connection failed (check the key).", true);
  socket.onclose = (event) => {
    stopRecording();
    status(event.code === 1000 ? "Live transcription ended." : `Closed: ${event.code} ${event.reason}`,
           event.code !== 1000);
  };
  socket.onopen = () => {
    recorder.ondataavailable = (chunk) => {
      if (chunk.data.size && socket.readyState === WebSocket.OPEN) socket.send(chunk.data);
    };
    recorder.start(250);
    status("Listening… speak, then press Stop.");
  };
  $("start").disabled = true;
  $("stop").disabled = false;
}

function stopRecording() {
  if (!live) return;
  if (live.recorder.state !== "inactive") live.recorder.stop();
  live.stream.getTracks().forEach((track) => track.stop());
  $("start").disabled = false;
  $("stop").disabled = true;
}

function onStop() {
  if (!live) return;
  const { socket, recorder } = live;
  // The last chunk arrives after stop(); CloseStream goes after it, then the server sends its finals.
  recorder.onstop = () => {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "CloseStream" }));
  };
  stopRecording();
  status("Finishing…");
}

function setUp() {
  $("key-section").hidden = !needsKey;
  $("key").value = sessionStorage.getItem("whisper-api-key") || "";
  $("key").addEventListener("change", () => {
    sessionStorage.setItem("whisper-api-key", key());
    loadModels();
  });
  $("file").addEventListener("change", () => choose($("file").files[0] || null));
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    choose(event.dataTransfer.files[0] || null);
  });
  $("transcribe").addEventListener("click", onTranscribe);
  $("downloads").addEventListener("click", onDownload);
  $("start").addEventListener("click", onStart);
  $("stop").addEventListener("click", onStop);
  loadModels();
}

setUp();
