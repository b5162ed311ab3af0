// Minimal JSON for endpoints: a streaming writer that escapes correctly, and a strict parser into a small value
// tree that never traps on bad input (it returns null instead, so a handler can answer 400).

/**
 * Builds a JSON document piece by piece: `new JsonWriter().beginObject().key("a").int(1).endObject().toString()`.
 * Text goes straight into one growing buffer (doubling), so writing allocates nothing per token.
 */
export class JsonWriter {
  private buf: ArrayBuffer = new ArrayBuffer(256);
  /** Bytes of UTF-16 written. */
  private len: i32 = 0;
  /** Per open container: does the next value need a comma before it? */
  private needComma: bool[] = [false];

  /** Makes room for `bytes` more bytes and returns where they go; write there before calling it again. */
  private reserve(bytes: i32): usize {
    const need = this.len + bytes;
    let cap = this.buf.byteLength;
    if (need > cap) {
      while (cap < need) cap <<= 1;
      const grown = new ArrayBuffer(cap);
      memory.copy(changetype<usize>(grown), changetype<usize>(this.buf), <usize>this.len);
      this.buf = grown;
    }
    const at = changetype<usize>(this.buf) + <usize>this.len;
    this.len = need;
    return at;
  }

  private char(c: i32): void {
    store<u16>(this.reserve(2), <u16>c);
  }

  private chars(s: string, from: i32, to: i32): void {
    const n = (to - from) << 1;
    memory.copy(this.reserve(n), changetype<usize>(s) + (<usize>from << 1), <usize>n);
  }

  private raw(s: string): void {
    this.chars(s, 0, s.length);
  }

  private quoted(s: string): void {
    this.char(34);
    const n = s.length;
    let run = 0;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 32 && c != 34 && c != 92) continue;
      if (i > run) this.chars(s, run, i);
      run = i + 1;
      this.char(92);
      if (c == 34 || c == 92) this.char(c);
      else if (c == 10) this.char(110);
      else if (c == 13) this.char(114);
      else if (c == 9) this.char(116);
      else {
        this.raw("u00");
        this.char(HEX.charCodeAt(c >> 4));
        this.char(HEX.charCodeAt(c & 15));
      }
    }
    if (n > run) this.chars(s, run, n);
    this.char(34);
  }

  private sep(): void {
    const top = this.needComma.length - 1;
    if (unchecked(this.needComma[top])) this.char(44);
    else unchecked((this.needComma[top] = true));
  }

  beginObject(): JsonWriter {
    this.sep();
    this.char(123);
    this.needComma.push(false);
    return this;
  }

  endObject(): JsonWriter {
    if (this.needComma.length > 1) this.needComma.pop();
    this.char(125);
    return this;
  }

  beginArray(): JsonWriter {
    this.sep();
    this.char(91);
    this.needComma.push(false);
    return this;
  }

  endArray(): JsonWriter {
    if (this.needComma.length > 1) this.needComma.pop();
    this.char(93);
    return this;
  }

  /** An object member's key; the value written next belongs to it. */
  key(k: string): JsonWriter {
    this.sep();
    this.quoted(k);
    this.char(58);
    unchecked((this.needComma[this.needComma.length - 1] = false));
    return this;
  }

  string(v: string): JsonWriter {
    this.sep();
    this.quoted(v);
    return this;
  }

  int(v: i64): JsonWriter {
    this.sep();
    let m: u64 = v < 0 ? <u64>0 - <u64>v : <u64>v;
    let digits = 1;
    for (let t = m; t >= 10; t /= 10) digits++;
    if (v < 0) this.char(45);
    const at = this.reserve(digits << 1);
    for (let i = digits - 1; i >= 0; i--) {
      store<u16>(at + (<usize>i << 1), <u16>(48 + <i32>(m % 10)));
      m /= 10;
    }
    return this;
  }

  /** A number; NaN and infinities, which JSON cannot represent, are written as null. */
  number(v: f64): JsonWriter {
    if (!isFinite(v)) return this.null();
    if (v == Math.floor(v) && Math.abs(v) < 1e15) return this.int(<i64>v);
    this.sep();
    this.raw(v.toString());
    return this;
  }

  bool(v: bool): JsonWriter {
    this.sep();
    this.raw(v ? "true" : "false");
    return this;
  }

  null(): JsonWriter {
    this.sep();
    this.raw("null");
    return this;
  }

  /** A parsed value, written back out (e.g. to pass part of one document into another). */
  value(v: JsonValue): JsonWriter {
    switch (v.kind) {
      case JsonKind.Null:
        return this.null();
      case JsonKind.Bool:
        return this.bool(v.bool);
      case JsonKind.Number:
        return this.number(v.num);
      case JsonKind.String:
        return this.string(v.str);
      case JsonKind.Array: {
        this.beginArray();
        for (let i = 0; i < v.items.length; i++) this.value(unchecked(v.items[i]));
        return this.endArray();
      }
      default: {
        this.beginObject();
        for (let i = 0; i < v.items.length; i++) this.key(unchecked(v.keys[i])).value(unchecked(v.items[i]));
        return this.endObject();
      }
    }
  }

  /** The document so far. */
  toString(): string {
    return String.UTF16.decodeUnsafe(changetype<usize>(this.buf), <usize>this.len);
  }
}

const HEX = "0123456789abcdef";

/** `s` as a JSON string literal, quotes included. */
export function quote(s: string): string {
  return new JsonWriter().string(s).toString();
}

export const enum JsonKind {
  Null,
  Bool,
  Number,
  String,
  Array,
  Object,
}

// Scalars share these (empty) lists instead of allocating their own; parsed values are read-only.
const NO_ITEMS = new Array<JsonValue>(0);
const NO_KEYS = new Array<string>(0);

/** A parsed JSON value. Treat it as read-only. */
export class JsonValue {
  kind: JsonKind;
  /** For Number. */
  num: f64 = 0;
  /** For String. */
  str: string = "";
  /** For Bool. */
  bool: bool = false;
  /** Elements of an Array, or member values of an Object (in document order). */
  items: JsonValue[];
  /** Member names of an Object, parallel to items. */
  keys: string[];

  constructor(kind: JsonKind) {
    this.kind = kind;
    const container = kind == JsonKind.Array || kind == JsonKind.Object;
    this.items = container ? new Array<JsonValue>() : NO_ITEMS;
    this.keys = kind == JsonKind.Object ? new Array<string>() : NO_KEYS;
  }

  /** The member called `key` of an object (the last one if repeated), or null. */
  get(key: string): JsonValue | null {
    if (this.kind != JsonKind.Object) return null;
    for (let i = this.keys.length - 1; i >= 0; i--) if (unchecked(this.keys[i]) == key) return unchecked(this.items[i]);
    return null;
  }

  /** Element `i` of an array, or null. */
  at(i: i32): JsonValue | null {
    return this.kind == JsonKind.Array && i >= 0 && i < this.items.length ? unchecked(this.items[i]) : null;
  }

  /** Elements of an array or members of an object; 0 for scalars. */
  get length(): i32 {
    return this.items.length;
  }

  /** A number with no fractional part within ±2^53 (exactly representable as an i64). */
  isInteger(): bool {
    return this.kind == JsonKind.Number && this.num == Math.floor(this.num) && Math.abs(this.num) <= 9007199254740992;
  }

  /** Member `key` if it is a string, else null. */
  getString(key: string): string | null {
    const v = this.get(key);
    return v != null && v.kind == JsonKind.String ? v.str : null;
  }

  /** Member `key` if it is an integer (see isInteger), else `fallback`. */
  getInt(key: string, fallback: i64): i64 {
    const v = this.get(key);
    return v != null && v.isInteger() ? <i64>v.num : fallback;
  }
}

const MAX_DEPTH = 64;

// 10^k as f64: literals are correctly rounded (and exact up to 1e22), so 10^k for k >= 32, a product of two of
// them, is within about an ulp.
const POW10_LO: StaticArray<f64> = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31];
const POW10_HI: StaticArray<f64> = [1e0, 1e32, 1e64, 1e96, 1e128, 1e160, 1e192, 1e224, 1e256, 1e288];

function pow10(k: i32): f64 {
  if (k < 32) return unchecked(POW10_LO[k]);
  if (k >= 320) return Infinity;
  return unchecked(POW10_HI[k >> 5]) * unchecked(POW10_LO[k & 31]);
}

class Parser {
  s: string;
  n: i32;
  i: i32 = 0;
  ok: bool = true;
  depth: i32 = 0;
  // The number being read: mant * 10^exp, with the count of significant digits kept in mant (at most 19).
  mant: u64 = 0;
  digits: i32 = 0;
  exp: i32 = 0;

  constructor(s: string) {
    this.s = s;
    this.n = s.length;
  }

  /** The current character, or -1 at the end. */
  peek(): i32 {
    return this.i < this.n ? this.s.charCodeAt(this.i) : -1;
  }

  ws(): void {
    while (this.i < this.n) {
      const c = this.s.charCodeAt(this.i);
      if (c == 32 || c == 9 || c == 10 || c == 13) this.i++;
      else break;
    }
  }

  fail(): JsonValue {
    this.ok = false;
    return new JsonValue(JsonKind.Null);
  }

  literal(word: string): bool {
    const len = word.length;
    if (this.i + len > this.n) return false;
    for (let k = 0; k < len; k++) if (this.s.charCodeAt(this.i + k) != word.charCodeAt(k)) return false;
    this.i += len;
    return true;
  }

  value(): JsonValue {
    this.ws();
    const c = this.peek();
    if (c == 123) return this.container(true);
    if (c == 91) return this.container(false);
    if (c == 34) {
      const v = new JsonValue(JsonKind.String);
      v.str = this.string();
      return v;
    }
    if (c == 116 && this.literal("true")) {
      const v = new JsonValue(JsonKind.Bool);
      v.bool = true;
      return v;
    }
    if (c == 102 && this.literal("false")) return new JsonValue(JsonKind.Bool);
    if (c == 110 && this.literal("null")) return new JsonValue(JsonKind.Null);
    if (c == 45 || (c >= 48 && c <= 57)) return this.number();
    return this.fail();
  }

  /**
   * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, converted here rather than by parseFloat, which misreads
   * some 16-digit significands (AssemblyScript 0.28). Exact for integers up to 2^53 and for up to 15
   * significant digits with a decimal exponent within +-22 (every price, quantity and id an endpoint sees);
   * otherwise within a few units in the last place.
   */
  number(): JsonValue {
    const s = this.s;
    let neg = false;
    if (this.peek() == 45) {
      neg = true;
      this.i++;
    }
    this.mant = 0;
    this.digits = 0;
    this.exp = 0;
    const intStart = this.i;
    this.significand(false);
    const intDigits = this.i - intStart;
    if (intDigits == 0 || (intDigits > 1 && s.charCodeAt(intStart) == 48)) return this.fail();
    if (this.peek() == 46) {
      this.i++;
      const fracStart = this.i;
      this.significand(true);
      if (this.i == fracStart) return this.fail();
    }
    const mant = this.mant;
    let exp = this.exp;
    const e = this.peek();
    if (e == 101 || e == 69) {
      this.i++;
      let expNeg = false;
      const sign = this.peek();
      if (sign == 43 || sign == 45) {
        expNeg = sign == 45;
        this.i++;
      }
      const expStart = this.i;
      let x: i32 = 0;
      while (this.i < this.n) {
        const c = s.charCodeAt(this.i);
        if (c < 48 || c > 57) break;
        if (x < 100000) x = x * 10 + (c - 48);
        this.i++;
      }
      if (this.i == expStart) return this.fail();
      exp += expNeg ? -x : x;
    }
    const v = new JsonValue(JsonKind.Number);
    const m = <f64>mant;
    let r: f64;
    if (mant == 0) r = 0;
    else if (exp == 0) r = m;
    else if (exp > 0) r = exp > 400 ? Infinity : m * pow10(exp); // past 10^308 this is Infinity, as in JS
    else if (exp >= -308) r = m / pow10(-exp);
    else if (exp >= -346) r = m / 1e308 / pow10(-exp - 308); // subnormal results
    else r = 0;
    v.num = neg ? -r : r;
    return v;
  }

  /**
   * Reads a run of decimal digits into mant (keeping at most 19 significant ones) and moves exp so that
   * mant * 10^exp stays the value read: integer digits past the 19th raise it, fraction digits kept lower it.
   */
  significand(fraction: bool): void {
    while (this.i < this.n) {
      const c = this.s.charCodeAt(this.i);
      if (c < 48 || c > 57) break;
      if (this.digits < 19) {
        this.mant = this.mant * 10 + <u64>(c - 48);
        if (this.mant != 0) this.digits++;
        if (fraction) this.exp--;
      } else if (!fraction) this.exp++;
      this.i++;
    }
  }

  hex4(): i32 {
    if (this.i + 4 > this.n) return -1;
    let v = 0;
    for (let k = 0; k < 4; k++) {
      const c = this.s.charCodeAt(this.i + k);
      let d = -1;
      if (c >= 48 && c <= 57) d = c - 48;
      else if (c >= 97 && c <= 102) d = c - 87;
      else if (c >= 65 && c <= 70) d = c - 55;
      if (d < 0) return -1;
      v = (v << 4) | d;
    }
    this.i += 4;
    return v;
  }

  /** A string literal at the opening quote; unescaped runs are copied whole. */
  string(): string {
    this.i++;
    let out = "";
    let run = this.i;
    while (this.i < this.n) {
      const c = this.s.charCodeAt(this.i);
      if (c == 34) {
        out += this.s.substring(run, this.i);
        this.i++;
        return out;
      }
      if (c < 32) break;
      if (c != 92) {
        this.i++;
        continue;
      }
      out += this.s.substring(run, this.i);
      this.i++;
      const e = this.peek();
      this.i++;
      if (e == 34) out += '"';
      else if (e == 92) out += "\\";
      else if (e == 47) out += "/";
      else if (e == 110) out += "\n";
      else if (e == 116) out += "\t";
      else if (e == 114) out += "\r";
      else if (e == 98) out += "\b";
      else if (e == 102) out += "\f";
      else if (e == 117) {
        const code = this.hex4();
        if (code < 0) break;
        out += String.fromCharCode(code);
      } else break;
      run = this.i;
    }
    this.ok = false;
    return "";
  }

  container(isObject: bool): JsonValue {
    if (++this.depth > MAX_DEPTH) return this.fail();
    const close = isObject ? 125 : 93;
    this.i++;
    const v = new JsonValue(isObject ? JsonKind.Object : JsonKind.Array);
    this.ws();
    if (this.peek() == close) {
      this.i++;
      this.depth--;
      return v;
    }
    while (true) {
      if (isObject) {
        this.ws();
        if (this.peek() != 34) return this.fail();
        v.keys.push(this.string());
        this.ws();
        if (!this.ok || this.peek() != 58) return this.fail();
        this.i++;
      }
      v.items.push(this.value());
      if (!this.ok) return v;
      this.ws();
      const c = this.peek();
      this.i++;
      if (c == close) break;
      if (c != 44) return this.fail();
    }
    this.depth--;
    return v;
  }
}

/** Parses a whole JSON document; null if it is not valid JSON (or nests deeper than 64). */
export function parseJson(s: string): JsonValue | null {
  const p = new Parser(s);
  const v = p.value();
  if (!p.ok) return null;
  p.ws();
  return p.i == p.n ? v : null;
}
