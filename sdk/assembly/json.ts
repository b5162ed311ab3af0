// Minimal JSON for endpoints: a writer that escapes correctly, and a parser into a small value tree that
// never traps on bad input (it returns null instead), so a handler can answer 400.

export class JsonWriter {
  private parts: string[] = [];
  private needComma: bool[] = [false];

  private sep(): void {
    const top = this.needComma.length - 1;
    if (this.needComma[top]) this.parts.push(",");
    this.needComma[top] = true;
  }

  beginObject(): JsonWriter {
    this.sep();
    this.parts.push("{");
    this.needComma.push(false);
    return this;
  }

  endObject(): JsonWriter {
    this.needComma.pop();
    this.parts.push("}");
    return this;
  }

  beginArray(): JsonWriter {
    this.sep();
    this.parts.push("[");
    this.needComma.push(false);
    return this;
  }

  endArray(): JsonWriter {
    this.needComma.pop();
    this.parts.push("]");
    return this;
  }

  /** An object key; the value written next belongs to it. */
  key(k: string): JsonWriter {
    this.sep();
    this.parts.push(quote(k));
    this.parts.push(":");
    const top = this.needComma.length - 1;
    this.needComma[top] = false;
    return this;
  }

  string(v: string): JsonWriter {
    this.sep();
    this.parts.push(quote(v));
    return this;
  }

  int(v: i64): JsonWriter {
    this.sep();
    this.parts.push(v.toString());
    return this;
  }

  bool(v: bool): JsonWriter {
    this.sep();
    this.parts.push(v ? "true" : "false");
    return this;
  }

  toString(): string {
    return this.parts.join("");
  }
}

export function quote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 34) out += '\\"';
    else if (c == 92) out += "\\\\";
    else if (c == 10) out += "\\n";
    else if (c == 13) out += "\\r";
    else if (c == 9) out += "\\t";
    else if (c < 32) out += "\\u00" + (c < 16 ? "0" : "") + c.toString(16);
    else out += String.fromCharCode(c);
  }
  return out + '"';
}

export const enum JsonKind {
  Null,
  Bool,
  Number,
  String,
  Array,
  Object,
}

export class JsonValue {
  kind: JsonKind = JsonKind.Null;
  num: f64 = 0;
  str: string = "";
  bool: bool = false;
  items: JsonValue[] = [];
  keys: string[] = [];

  /** A member of an object, or null. */
  get(key: string): JsonValue | null {
    if (this.kind != JsonKind.Object) return null;
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] == key) return this.items[i];
    return null;
  }
}

class Parser {
  s: string;
  i: i32 = 0;
  ok: bool = true;
  depth: i32 = 0;

  constructor(s: string) {
    this.s = s;
  }

  ws(): void {
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i);
      if (c == 32 || c == 9 || c == 10 || c == 13) this.i++;
      else break;
    }
  }

  fail(): JsonValue {
    this.ok = false;
    return new JsonValue();
  }

  value(): JsonValue {
    this.ws();
    if (this.i >= this.s.length || ++this.depth > 64) return this.fail();
    const c = this.s.charCodeAt(this.i);
    let v: JsonValue;
    if (c == 123) v = this.object();
    else if (c == 91) v = this.array();
    else if (c == 34) {
      v = new JsonValue();
      v.kind = JsonKind.String;
      v.str = this.string();
    } else if (c == 116 && this.s.substr(this.i, 4) == "true") {
      this.i += 4;
      v = new JsonValue();
      v.kind = JsonKind.Bool;
      v.bool = true;
    } else if (c == 102 && this.s.substr(this.i, 5) == "false") {
      this.i += 5;
      v = new JsonValue();
      v.kind = JsonKind.Bool;
    } else if (c == 110 && this.s.substr(this.i, 4) == "null") {
      this.i += 4;
      v = new JsonValue();
    } else v = this.number();
    this.depth--;
    return v;
  }

  number(): JsonValue {
    const start = this.i;
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i);
      if ((c >= 48 && c <= 57) || c == 45 || c == 43 || c == 46 || c == 101 || c == 69) this.i++;
      else break;
    }
    if (this.i == start) return this.fail();
    const v = new JsonValue();
    v.kind = JsonKind.Number;
    v.num = parseFloat(this.s.substring(start, this.i));
    if (isNaN(v.num)) return this.fail();
    return v;
  }

  string(): string {
    this.i++; // opening quote
    let out = "";
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i++);
      if (c == 34) return out;
      if (c == 92) {
        if (this.i >= this.s.length) break;
        const e = this.s.charCodeAt(this.i++);
        if (e == 110) out += "\n";
        else if (e == 116) out += "\t";
        else if (e == 114) out += "\r";
        else if (e == 98) out += "\b";
        else if (e == 102) out += "\f";
        else if (e == 117) {
          if (this.i + 4 > this.s.length) break;
          const code = I32.parseInt(this.s.substr(this.i, 4), 16);
          out += String.fromCharCode(code);
          this.i += 4;
        } else out += String.fromCharCode(e);
      } else out += String.fromCharCode(c);
    }
    this.ok = false;
    return out;
  }

  array(): JsonValue {
    this.i++;
    const v = new JsonValue();
    v.kind = JsonKind.Array;
    this.ws();
    if (this.i < this.s.length && this.s.charCodeAt(this.i) == 93) {
      this.i++;
      return v;
    }
    while (this.ok) {
      v.items.push(this.value());
      this.ws();
      if (this.i >= this.s.length) return this.fail();
      const c = this.s.charCodeAt(this.i++);
      if (c == 93) return v;
      if (c != 44) return this.fail();
    }
    return v;
  }

  object(): JsonValue {
    this.i++;
    const v = new JsonValue();
    v.kind = JsonKind.Object;
    this.ws();
    if (this.i < this.s.length && this.s.charCodeAt(this.i) == 125) {
      this.i++;
      return v;
    }
    while (this.ok) {
      this.ws();
      if (this.i >= this.s.length || this.s.charCodeAt(this.i) != 34) return this.fail();
      v.keys.push(this.string());
      this.ws();
      if (this.i >= this.s.length || this.s.charCodeAt(this.i++) != 58) return this.fail();
      v.items.push(this.value());
      this.ws();
      if (this.i >= this.s.length) return this.fail();
      const c = this.s.charCodeAt(this.i++);
      if (c == 125) return v;
      if (c != 44) return this.fail();
    }
    return v;
  }
}

/** Parses a JSON document; null if it is not valid JSON. */
export function parseJson(s: string): JsonValue | null {
  const p = new Parser(s);
  const v = p.value();
  p.ws();
  if (!p.ok || p.i != s.length) return null;
  return v;
}
