/**
 * a[0..len) equals buf[start..start+len). In JS: for the few dozen bytes of a key or a header this
 * is far cheaper than Buffer.compare's native call.
 */
export function sameBytes(a: Buffer, buf: Buffer, start: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (a[i] !== buf[start + i]) return false;
  return true;
}
