// Reads the answer stream with EventSource: one "token" event per piece of text, then "done".
"use strict";
(function () {
  const form = document.getElementById("chat-form");
  const input = document.getElementById("message");
  const send = document.getElementById("send");
  const log = document.getElementById("log");
  const status = document.getElementById("status");
  let source = null;
  let turn = 0;

  function bubble(role, text) {
    const div = document.createElement("div");
    div.className = "msg " + role;
    div.textContent = text;
    log.appendChild(div);
    return div;
  }

  function finish(message) {
    // Close explicitly: otherwise EventSource reconnects when the server ends the response
    // and the question is asked again.
    if (source) { source.close(); source = null; }
    send.disabled = false;
    input.disabled = false;
    status.textContent = message;
    document.body.dataset.state = "idle";
    input.focus();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || source) { return; }
    input.value = "";
    turn += 1;
    bubble("user", text);
    const reply = bubble("assistant", "");
    reply.id = "reply-" + turn;
    send.disabled = true;
    input.disabled = true;
    document.body.dataset.state = "streaming";
    status.textContent = "Thinking…";

    source = new EventSource("/chat/stream?message=" + encodeURIComponent(text));
    source.addEventListener("token", function (e) {
      status.textContent = "";
      const span = document.createElement("span");
      span.className = "token";
      span.textContent = JSON.parse(e.data).text;
      reply.appendChild(span);
    });
    source.addEventListener("done", function (e) {
      const result = JSON.parse(e.data).result;
      reply.dataset.done = "true";
      finish(result ? "" : status.textContent);
    });
    source.addEventListener("error", function (e) {
      if (e.data) {  // the server's error event; a "done" event follows
        reply.classList.add("error");
        status.textContent = "Error: " + JSON.parse(e.data).error.message;
        return;
      }
      finish("Connection lost.");  // a network error event has no data
    });
  });

  window.addEventListener("pagehide", function () { if (source) { source.close(); } });
})();
