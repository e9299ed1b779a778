// Name colours: the terminal client's (twisted_chat/client/style.py,
// name_colour), by the same hash, so a person has the same colour in the
// page as in the terminal: CRC-32 of the name in lower case, modulo five.

export const NAME_COLOURS = ["green", "yellow", "blue", "magenta", "red"];

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes) {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const encoder = new TextEncoder();

// Names are ASCII (the server allows no other), so lower case is casefold.
export function nameColour(name) {
  return NAME_COLOURS[crc32(encoder.encode(name.toLowerCase())) % NAME_COLOURS.length];
}
