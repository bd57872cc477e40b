// Client-side checks that mirror the server's rules, so the user learns of a problem before a
// round trip. The server stays authoritative (it answers 422 for the same cases).

export const kMinPasswordLength = 10;

const kEmail = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const kPhone = /^\+[1-9][0-9]{6,14}$/; // E.164, as SMS gateways want it

export function emailProblem(email) {
  if (!email) return 'Enter your email address.';
  if (!kEmail.test(email)) return 'Enter a valid email address.';
  return null;
}

/** The server's password policy: at least 10 characters and not the email address. */
export function passwordProblem(password, email) {
  if (!password) return 'Enter a password.';
  if (password.length < kMinPasswordLength) return `The password must have at least ${kMinPasswordLength} characters.`;
  if (email && password.trim().toLowerCase() === email.trim().toLowerCase()) return 'The password must not be your email address.';
  return null;
}

export function phoneProblem(phone) {
  if (!phone) return null; // optional
  if (!kPhone.test(phone)) return 'Enter the phone number in international format, e.g. +15551234567.';
  return null;
}

/** Normalises what people type into a phone field ("+1 (555) 123-4567" -> "+15551234567"). */
export function normalisePhone(phone) {
  return phone.replace(/[\s().-]/g, '');
}

/** The seed console's change-password checks plus the password policy. Returns {field: message}. */
export function changePasswordProblems({ current, next, confirm }, email) {
  const p = {};
  if (!current) p.current = 'Enter your current password.';
  const np = passwordProblem(next, email);
  if (np) p.next = np === 'Enter a password.' ? 'Enter a new password.' : np;
  else if (current && next === current) p.next = 'The new password must differ from the current one.';
  if (!confirm) p.confirm = 'Confirm the new password.';
  else if (next !== confirm) p.confirm = 'The passwords do not match.';
  return p;
}
