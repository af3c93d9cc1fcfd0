# Generates random nested template cases (pipelines, builtins, control structures) for a
# differential run against real Helm: python3 gen_random_cases.py SEED COUNT OUT.json
# (tests/data/oracle_cases.json holds those Helm rendered identically, seeds 7 and 11).
import random, json, sys
random.seed(int(sys.argv[1]))
LEAVES = ['.Values.s', '.Values.f', '.Values.l', '.Values.m', '.Values.m.a', '.Values.nope', '.Values.nope.x', '$.Values.i',
          '1', '-1', '2.5', '0x10', "'c'", '"x"', '"%v"', 'true', 'nil', '(list 1 2)', '.Values.l.x', '(index .Values.l 2)']
FUNCS = ['len', 'index', 'printf', 'print', 'eq', 'ne', 'lt', 'le', 'and', 'or', 'not', 'html', 'js', 'urlquery', 'upper', 'list', 'println', 'add']
def operand(d=0):
    if d > 2 or random.random() < 0.55:
        return random.choice(LEAVES)
    f = random.choice(FUNCS)
    return '(' + f + ' ' + ' '.join(operand(d+1) for _ in range(random.randint(0, 3))) + ')'
def node(d=0):
    r = random.random()
    if d > 2 or r < 0.5:
        k = random.random()
        if k < 0.6:
            ops = [operand() for _ in range(random.randint(1, 2))]
            return '{{ ' + ' | '.join(o[1:-1] if o.startswith('(') and i > 0 else o for i, o in enumerate(ops)) + ' }}'
        if k < 0.8:
            return '{{ $x := ' + operand() + ' }}{{ $x }}'
        return random.choice(['t ', ' ', '\n', '{{- " " -}}'])
    kw = random.choice(['if', 'with', 'range', 'range $i, $v :='])
    body = ''.join(node(d+1) for _ in range(random.randint(0, 2)))
    els = ('{{ else }}' + ''.join(node(d+1) for _ in range(random.randint(0, 2)))) if random.random() < 0.4 else ''
    return '{{ ' + kw + ' ' + operand() + ' }}' + body + els + '{{ end }}'
cases = [''.join(node() for _ in range(random.randint(1, 3))) for _ in range(int(sys.argv[2]))]
json.dump(cases, open(sys.argv[3], 'w'))
