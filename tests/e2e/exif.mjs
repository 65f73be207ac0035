// Writes an EXIF block (APP1) into a JPEG that has none, so the e2e photo carries what a
// camera file edited in software would: make, model, Software, the two dates and a GPS
// position (private data, hidden in the app until asked). Usage: node exif.mjs in.jpg out.jpg
import { readFileSync, writeFileSync } from 'node:fs';

const ASCII = 2;
const LONG = 4;
const RATIONAL = 5;

/** One IFD at `start` (bytes from the TIFF header): its entries, then the values that do not fit
 *  in 4 bytes. `entries`: [tag, type, value] with value a string (ASCII), a number (LONG, or an
 *  offset filled in later via a function) or [[num, den], …] (RATIONAL). */
function ifd(start, entries) {
  entries.sort((a, b) => a[0] - b[0]);
  const head = 2 + entries.length * 12 + 4;
  const table = Buffer.alloc(head);
  const data = [];
  let dataAt = start + head;
  table.writeUInt16LE(entries.length, 0);
  entries.forEach(([tag, type, value], i) => {
    const o = 2 + i * 12;
    table.writeUInt16LE(tag, o);
    table.writeUInt16LE(type, o + 2);
    let bytes;
    if (type === ASCII) bytes = Buffer.from(`${value}\0`, 'latin1');
    else if (type === RATIONAL) {
      bytes = Buffer.alloc(value.length * 8);
      value.forEach(([n, d], k) => {
        bytes.writeUInt32LE(n, k * 8);
        bytes.writeUInt32LE(d, k * 8 + 4);
      });
    } else bytes = Buffer.alloc(4);
    table.writeUInt32LE(type === RATIONAL ? value.length : type === ASCII ? bytes.length : 1, o + 4);
    if (type === LONG) table.writeUInt32LE(value, o + 8);
    else if (bytes.length <= 4) bytes.copy(table, o + 8);
    else {
      table.writeUInt32LE(dataAt, o + 8);
      const padded = bytes.length % 2 ? Buffer.concat([bytes, Buffer.alloc(1)]) : bytes;
      data.push(padded);
      dataAt += padded.length;
    }
  });
  return Buffer.concat([table, ...data]);
}

const [input, output] = process.argv.slice(2);
const jpeg = readFileSync(input);
if (jpeg.readUInt16BE(0) !== 0xffd8) throw new Error(`${input} is not a JPEG`);

// IFD0 first (its size does not depend on the offsets written into it), then the Exif and
// GPS IFDs after it.
const ifd0Entries = () => [
  [0x010f, ASCII, 'Canon'],
  [0x0110, ASCII, 'Canon EOS 5D Mark IV'],
  [0x0131, ASCII, 'Adobe Photoshop 25.0 (Windows)'],
  [0x0132, ASCII, '2026:02:11 17:40:02'],
  [0x8769, LONG, 0],
  [0x8825, LONG, 0],
];
const size0 = ifd(8, ifd0Entries()).length;
const exifAt = 8 + size0;
const exifIfd = ifd(exifAt, [
  [0x9003, ASCII, '2026:02:11 09:12:44'],
  [0x9004, ASCII, '2026:02:11 09:12:44'],
]);
const gpsAt = exifAt + exifIfd.length;
const gpsIfd = ifd(gpsAt, [
  [0x0001, ASCII, 'N'],
  [0x0002, RATIONAL, [[48, 1], [51, 1], [3013, 100]]],
  [0x0003, ASCII, 'E'],
  [0x0004, RATIONAL, [[2, 1], [17, 1], [4013, 100]]],
]);
const ifd0 = ifd(
  8,
  ifd0Entries().map(([t, ty, v]) => [t, ty, t === 0x8769 ? exifAt : t === 0x8825 ? gpsAt : v]),
);
const tiff = Buffer.concat([Buffer.from('II*\0', 'latin1'), Buffer.from([8, 0, 0, 0]), ifd0, exifIfd, gpsIfd]);
const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
const app1 = Buffer.alloc(4);
app1.writeUInt16BE(0xffe1, 0);
app1.writeUInt16BE(payload.length + 2, 2);
writeFileSync(output, Buffer.concat([jpeg.subarray(0, 2), app1, payload, jpeg.subarray(2)]));
