// Pure: reading what valgrind's callgrind wrote (bench/instructions.ts).

/** Where an instruction ran. */
export type Category = 'own-js' | 'library-js' | 'node-js' | 'regexp' | 'builtins' | 'gc' | 'compiler' | 'llhttp' | 'libc' | 'other';

export const CATEGORIES: readonly Category[] = ['own-js', 'library-js', 'node-js', 'regexp', 'builtins', 'gc', 'compiler', 'llhttp', 'libc', 'other'];

export interface FunctionCost {
  readonly name: string;
  /** the binary or library it is in; "???" for code V8 generated at run time */
  readonly object: string;
  /** instructions executed in the function itself */
  readonly ir: number;
}

/** The totals of a callgrind output file, by event (Ir, and D1mr, DLmr, ... with --cache-sim=yes). */
export function parseSummary(text: string): Record<string, number> {
  const events = /^events:\s*(.+)$/m.exec(text)?.[1]?.trim().split(/\s+/);
  const totals = (/^summary:\s*(.+)$/m.exec(text) ?? /^totals:\s*(.+)$/m.exec(text))?.[1]?.trim().split(/\s+/).map(Number);
  if (!events || !totals) throw new Error('not a callgrind output file: no events or summary line');
  return Object.fromEntries(events.map((e, i) => [e, totals[i] ?? 0]));
}

// Frames that never return while the process runs (the event loop's callers, a thread's start).
// callgrind_annotate lists them with the whole window's cost of their thread as if it were
// their own; counting them would count every instruction twice.
const OUTERMOST = /^(main|\(below main\)|__libc_start_main.*|__libc_start_call_main|start_thread|clone3?|node::Start\(.*|node::NodeMainInstance::Run\(.*|node::SpinEventLoopInternal\(.*|0x[0-9a-f]+)$/;

/**
 * The functions in `callgrind_annotate --inclusive=no --threshold=100 --show=Ir` output, each
 * with the instructions it executed itself; the outermost frames (see above) are left out.
 */
export function parseAnnotate(stdout: string): FunctionCost[] {
  const out: FunctionCost[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*?)\s+\[(.*)\]\s*$/.exec(line);
    if (!m) continue;
    const where = m[2]!;
    const colon = where.indexOf(':');
    const name = colon === -1 ? where : where.slice(colon + 1);
    const object = m[3]!;
    if (OUTERMOST.test(name) && (object.includes('libc.so') || object.includes('ld-linux') || /\/node$/.test(object))) continue;
    out.push({ name, object, ir: Number(m[1]!.replaceAll(',', '')) });
  }
  return out;
}

interface CodeRange {
  readonly start: number;
  readonly end: number;
  readonly name: string;
}

/** Code V8 generated, from the map node --perf-basic-prof writes (/tmp/perf-PID.map: "start size name" in hex). */
export class PerfMap {
  readonly #ranges: CodeRange[];

  constructor(text: string) {
    // A later line for the same address is newer code there: it wins.
    const byStart = new Map<number, CodeRange>();
    for (const line of text.split('\n')) {
      const m = /^([0-9a-f]+) ([0-9a-f]+) (.+)$/i.exec(line);
      if (!m) continue;
      const start = parseInt(m[1]!, 16);
      byStart.set(start, { start, end: start + parseInt(m[2]!, 16), name: m[3]! });
    }
    this.#ranges = [...byStart.values()].sort((a, b) => a.start - b.start);
  }

  /** The name of the code at an address, or undefined. */
  nameAt(address: number): string | undefined {
    let lo = 0;
    let hi = this.#ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.#ranges[mid]!.start <= address) lo = mid + 1;
      else hi = mid - 1;
    }
    const range = this.#ranges[hi];
    return range && address < range.end ? range.name : undefined;
  }

  /** The functions with the names of the generated code they are in (callgrind names such code by its address). */
  name(functions: readonly FunctionCost[]): FunctionCost[] {
    return functions.map((f) => {
      if (f.object !== '???' || !/^0x[0-9a-f]+$/i.test(f.name)) return f;
      const name = this.nameAt(parseInt(f.name, 16));
      return name ? { ...f, name } : f;
    });
  }
}

/**
 * Which part of the runtime a function belongs to, from its name and the object it is in.
 * Generated code is named as in the perf map ("JS:*name file:///...:line:column", "RegExp...");
 * JavaScript from a file:// URL outside node_modules is the project's own.
 */
export function categoryOf(name: string, object: string): Category {
  if (object === '???') {
    if (name.startsWith('RegExp')) return 'regexp';
    if (!name.startsWith('JS:')) return 'other';
    const where = name.slice(name.lastIndexOf(' ') + 1);
    if (where.startsWith('node:')) return 'node-js';
    if (where.includes('/node_modules/')) return 'library-js';
    return where.startsWith('file://') ? 'own-js' : 'other';
  }
  if (name.startsWith('llhttp')) return 'llhttp';
  if (/\blibc\.so|\blibm\.so|\bld-linux/.test(object)) return 'libc';
  if (name.startsWith('Builtins_')) return 'builtins';
  if (/v8::internal::(compiler|maglev|turboshaft|baseline|wasm)::|v8::internal::(Compiler|Assembler|MacroAssembler|OptimizingCompileDispatcher|Parser|Scanner|Zone|BytecodeGenerator)\b|interpreter::Bytecode/.test(name)) return 'compiler';
  if (/heap::base::|cppgc::|v8::internal::(Heap::|Scavenge|Scavenger|Marking|MarkCompact|Sweeper|MinorMarkSweep|ConcurrentMarking|Evacuat|MemoryAllocator|PagedSpace|NewSpace|SemiSpace|RememberedSet|SlotSet|TypedSlot|FreeList|GCTracer|ArrayBufferSweeper|IncrementalMarking|BodyDescriptorBase::Iterate|.*Visitor)/.test(name)) return 'gc';
  return 'other';
}
