// npm run bench:instructions reads what valgrind's callgrind and node --perf-basic-prof
// wrote. The reading is checked here on text shaped as those tools write it.
import { describe, expect, it } from 'vitest';
import { PerfMap, categoryOf, parseAnnotate, parseSummary } from '../../bench/callgrind.ts';

describe('parseSummary', () => {
  it('reads every event of the summary line', () => {
    const text = 'version: 1\ncreator: callgrind-3.19.0\nevents: Ir Dr D1mr\n\nfn=(1) main\n0 10 2 1\nsummary: 495880043 1200 37\n';
    expect(parseSummary(text)).toEqual({ Ir: 495880043, Dr: 1200, D1mr: 37 });
  });

  it('falls back to the totals line, and refuses anything else', () => {
    expect(parseSummary('events: Ir\ntotals: 42\n')).toEqual({ Ir: 42 });
    expect(() => parseSummary('not callgrind')).toThrow(/not a callgrind output file/);
  });
});

const ANNOTATE = `--------------------------------------------------------------------------------
495,880,043 (100.0%)  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir                    file:function
--------------------------------------------------------------------------------
348,889,813 (70.36%)  ./csu/../csu/libc-start.c:__libc_start_main@@GLIBC_2.34 [/usr/lib/x86_64-linux-gnu/libc.so.6]
348,889,813 (70.36%)  ???:main [/usr/local/bin/node]
348,889,813 (70.36%)  ???:node::SpinEventLoopInternal(node::Environment*) [/usr/local/bin/node]
146,990,230 (29.64%)  ./nptl/./nptl/pthread_create.c:start_thread [/usr/lib/x86_64-linux-gnu/libc.so.6]
 13,870,007 ( 2.80%)  ???:Builtins_KeyedStoreIC [/usr/local/bin/node]
 12,864,353 ( 2.59%)  ???:heap::base::SlotCallbackResult v8::internal::Scavenger::ScavengeObject<v8::internal::FullHeapObjectSlot>(v8::internal::FullHeapObjectSlot, v8::internal::Tagged<v8::internal::HeapObject>) [/usr/local/bin/node]
  7,744,006 ( 1.56%)  ???:0x00000000280d6640 [???]
  4,254,639 ( 0.86%)  ./malloc/./malloc/malloc.c:_int_free [/usr/lib/x86_64-linux-gnu/libc.so.6]
  4,094,000 ( 0.83%)  ???:llhttp__internal__run [/usr/local/bin/node]
`;

describe('parseAnnotate', () => {
  it('lists each function with its own instructions, leaving out the frames that never return', () => {
    const functions = parseAnnotate(ANNOTATE);
    expect(functions.map((f) => f.name)).toEqual([
      'Builtins_KeyedStoreIC',
      'heap::base::SlotCallbackResult v8::internal::Scavenger::ScavengeObject<v8::internal::FullHeapObjectSlot>(v8::internal::FullHeapObjectSlot, v8::internal::Tagged<v8::internal::HeapObject>)',
      '0x00000000280d6640',
      '_int_free',
      'llhttp__internal__run',
    ]);
    expect(functions[0]).toEqual({ name: 'Builtins_KeyedStoreIC', object: '/usr/local/bin/node', ir: 13_870_007 });
    expect(functions[2]!.object).toBe('???');
  });
});

describe('PerfMap', () => {
  const map = new PerfMap(
    [
      '280d6000 1000 JS:*forward file:///work/main/src/request/forward.ts:78:24',
      '280e0000 200 JS:~onData file:///work/main/node_modules/undici/lib/dispatcher/client-h1.js:10:3',
      // the same place again, later: newer code there
      '280e0000 300 JS:*onData file:///work/main/node_modules/undici/lib/dispatcher/client-h1.js:10:3',
      '7f2f7c003640 3d4 RegExp.> src: \'ab+c\' flags: \'\'',
    ].join('\n'),
  );

  it('names an address inside a range, the newest code at a place winning', () => {
    expect(map.nameAt(0x280d6640)).toBe('JS:*forward file:///work/main/src/request/forward.ts:78:24');
    expect(map.nameAt(0x280e0250)).toBe('JS:*onData file:///work/main/node_modules/undici/lib/dispatcher/client-h1.js:10:3');
    expect(map.nameAt(0x280e0300)).toBeUndefined();
    expect(map.nameAt(0x1000)).toBeUndefined();
  });

  it('renames only generated code named by its address', () => {
    const named = map.name(parseAnnotate(ANNOTATE));
    expect(named.find((f) => f.ir === 7_744_006)!.name).toBe('JS:*forward file:///work/main/src/request/forward.ts:78:24');
    expect(named.find((f) => f.ir === 13_870_007)!.name).toBe('Builtins_KeyedStoreIC');
  });
});

describe('categoryOf', () => {
  it('sorts generated code by whose JavaScript it is', () => {
    expect(categoryOf('JS:*forward file:///work/main/src/request/forward.ts:78:24', '???')).toBe('own-js');
    expect(categoryOf('JS:*get headers file:///work/main/node_modules/undici/lib/core/request.js:1:1', '???')).toBe('library-js');
    expect(categoryOf('JS:^writeHead node:_http_server:360:19', '???')).toBe('node-js');
    expect(categoryOf("RegExp.> src: 'ab+c' flags: ''", '???')).toBe('regexp');
    expect(categoryOf('0x00000000280d6640', '???')).toBe('other');
  });

  it('sorts native code by what it does', () => {
    const node = '/usr/local/bin/node';
    expect(categoryOf('Builtins_KeyedStoreIC', node)).toBe('builtins');
    expect(categoryOf('heap::base::SlotCallbackResult v8::internal::Scavenger::ScavengeObject<x>(y)', node)).toBe('gc');
    expect(categoryOf('void v8::internal::MarkingVisitorBase<v8::internal::ConcurrentMarkingVisitor>::ProcessStrongHeapObject<x>(y)', node)).toBe('gc');
    expect(categoryOf('v8::internal::compiler::GraphReducer::Reduce(v8::internal::compiler::Node*)', node)).toBe('compiler');
    expect(categoryOf('llhttp__internal__run', node)).toBe('llhttp');
    expect(categoryOf('_int_free', '/usr/lib/x86_64-linux-gnu/libc.so.6')).toBe('libc');
    expect(categoryOf('uv__io_poll', node)).toBe('other');
  });
});
