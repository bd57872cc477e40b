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

// Device registration: the seed console's character sets with the server's lengths.
const kSerial = /^[a-zA-Z0-9-_:]+$/;
const kNameOrModel = /^[a-zA-Z0-9-_.,:/@#]+$/;
export const kMaxSerialLength = 128;
export const kMaxDeviceNameLength = 128;
export const kMaxModelNumberLength = 64;

export function serialProblem(v) {
  if (!v) return 'Enter the serial number.';
  if (v.length > kMaxSerialLength) return `The serial number must have at most ${kMaxSerialLength} characters.`;
  if (!kSerial.test(v)) return 'Use only letters, digits and - _ : in the serial number.';
  return null;
}

export function deviceNameProblem(v) {
  if (!v) return 'Enter a device name.';
  if (v.length > kMaxDeviceNameLength) return `The device name must have at most ${kMaxDeviceNameLength} characters.`;
  if (!kNameOrModel.test(v)) return 'Use only letters, digits and - _ . , : / @ # in the device name (no spaces).';
  return null;
}

export function modelNumberProblem(v) {
  if (!v) return 'Enter the model number.';
  if (v.length > kMaxModelNumberLength) return `The model number must have at most ${kMaxModelNumberLength} characters.`;
  if (!kNameOrModel.test(v)) return 'Use only letters, digits and - _ . , : / @ # in the model number (no spaces).';
  return null;
}

/** Optional claim code: printable ASCII without spaces, 4 to 128 characters. */
export function claimCodeProblem(v) {
  if (!v) return null;
  if (v.length < 4 || v.length > 128 || !/^[\x21-\x7e]+$/.test(v)) return 'The claim code has 4 to 128 characters without spaces.';
  return null;
}
