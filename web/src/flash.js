// One-shot messages carried across a navigation ("Email verified. You can sign in now.").
let pending = null;

export function setFlash(kind, text) {
  pending = { kind, text };
}

/** Returns and clears the pending message. */
export function takeFlash() {
  const f = pending;
  pending = null;
  return f;
}
