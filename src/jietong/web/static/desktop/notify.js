// Telling an agent about a new offer when their eyes are elsewhere: a short ring made with
// Web Audio (no sound file to vendor) and a browser notification while the tab is hidden.
// Browsers allow both only after a user gesture, so `arm()` runs on the first click.

let audio = null;

export function arm() {
  if (!audio && typeof AudioContext !== "undefined") audio = new AudioContext();
  if (typeof Notification !== "undefined" && Notification.permission === "default") {
    Notification.requestPermission().catch(() => {});
  }
}

/** Two short tones, like a desk phone. Silent when audio is not armed. */
export function ring() {
  if (!audio) return;
  const start = audio.currentTime;
  for (const [offset, frequency] of [[0, 880], [0.25, 660]]) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, start + offset);
    gain.gain.exponentialRampToValueAtTime(0.2, start + offset + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.2);
    osc.connect(gain).connect(audio.destination);
    osc.start(start + offset);
    osc.stop(start + offset + 0.22);
  }
}

/** A browser notification when the page is not visible; clicking it focuses the desk. */
export function announce(title, body, tag) {
  if (typeof Notification === "undefined" || Notification.permission !== "granted") return;
  if (document.visibilityState === "visible") return;
  const note = new Notification(title, { body, tag, requireInteraction: true });
  note.onclick = () => {
    window.focus();
    note.close();
  };
}
