/**
 * Forms generated from JSON Schema, as the Admin API serves each resource's and plugin's schema:
 * one control per property (text, number, choice, list, key/value pairs, nested groups), the
 * schema's `description` as help, its `default` as placeholder, `writeOnly` fields as password
 * fields. What a control cannot express (oneOf alternatives, arrays of objects, expressions)
 * gets a JSON box for that property alone. The form validates nothing itself: the Admin API
 * does, and its `error_msg` is shown on the field its JSON pointer names (field-errors.ts).
 */
import { useEffect, useState } from 'preact/hooks';
import type { JsonSchema } from './api.js';
import { errorsAt, type FieldErrors } from './field-errors.js';

type Value = any;

interface FieldProps {
  name: string;
  schema: JsonSchema;
  value: Value;
  onChange: (value: Value) => void;
  pointer: string;
  required: boolean;
  errors: FieldErrors;
  readOnly: boolean;
}

export interface SchemaFormProps {
  schema: JsonSchema;
  value: Record<string, Value>;
  onChange: (value: Record<string, Value>) => void;
  errors: FieldErrors;
  pointer?: string;
  readOnly?: boolean;
  /** Properties another part of the page edits (ids, `plugins`, times). */
  skip?: readonly string[];
}

export function SchemaForm({ schema, value, onChange, errors, pointer = '', readOnly = false, skip = [] }: SchemaFormProps) {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set<string>(schema.required ?? []);
  const names = Object.keys(properties).filter((n) => !skip.includes(n));
  // Required fields first, then the schema's own order.
  names.sort((a, b) => Number(required.has(b)) - Number(required.has(a)));
  return (
    <div class="schema-form">
      {names.map((name) => (
        <Field
          key={name}
          name={name}
          schema={properties[name]}
          value={value?.[name]}
          pointer={`${pointer}/${name}`}
          required={required.has(name)}
          errors={errors}
          readOnly={readOnly}
          onChange={(next) => onChange(setKey(value ?? {}, name, next))}
        />
      ))}
    </div>
  );
}

function setKey(target: Record<string, Value>, name: string, next: Value): Record<string, Value> {
  const out = { ...target };
  if (next === undefined) delete out[name];
  else out[name] = next;
  return out;
}

const SCALARS = new Set(['string', 'integer', 'number']);

/** The one type a control can edit, or 'json' when the schema leaves several open. */
function controlOf(schema: JsonSchema): string {
  if (Array.isArray(schema.enum)) return 'enum';
  if (schema.const !== undefined) return 'json';
  let type = schema.type;
  if (Array.isArray(type)) type = type.length === 1 ? type[0] : type.every((t: string) => SCALARS.has(t)) ? 'scalar' : undefined;
  // An id is `anyOf: [string, integer]`: one text box, sent as typed.
  const alternatives = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined;
  if (!type && alternatives?.every((a) => SCALARS.has(a.type) && !a.enum)) type = 'scalar';
  if (type === 'scalar') return 'string';
  if (!type && schema.properties) type = 'object';
  if (!type) return 'json';
  if (type === 'object') {
    if (schema.properties && !schema.oneOf && !schema.anyOf) return 'object';
    const extra = schema.additionalProperties;
    if (!schema.properties && extra && typeof extra === 'object' && extra.type === 'string') return 'map';
    return 'json';
  }
  if (type === 'array') {
    const items = (schema.items ?? {}) as JsonSchema;
    if (Array.isArray(items.enum)) return 'multi';
    if (items.type === 'string' && !items.oneOf && !items.anyOf) return 'lines';
    return 'json';
  }
  if (schema.oneOf || schema.anyOf) return 'json';
  return type;
}

function fieldId(pointer: string): string {
  return `f${pointer.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

function Field(props: FieldProps) {
  const { name, schema, pointer, required, errors } = props;
  const control = controlOf(schema);
  const id = fieldId(pointer);
  const own = errorsAt(errors, pointer, control === 'object' ? 'exact' : 'within');
  const help = schema.description ? <p class="help" id={`${id}-help`}>{schema.description}</p> : null;
  const described = [schema.description ? `${id}-help` : '', own.length ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
  const errorNote = own.length ? (
    <p class="field-error" id={`${id}-error`} role="alert">
      {own.join('; ')}
    </p>
  ) : null;

  if (control === 'object') {
    const hasValue = props.value !== undefined;
    return (
      <details class="field group" open={hasValue || required || own.length > 0 || errorsAt(errors, pointer, 'within').length > 0} data-field={pointer}>
        <summary>
          {name}
          {required && <span class="req" aria-label="required">*</span>}
        </summary>
        {help}
        {errorNote}
        <SchemaForm
          schema={schema}
          value={props.value ?? {}}
          pointer={pointer}
          errors={errors}
          readOnly={props.readOnly}
          onChange={(next) => props.onChange(Object.keys(next).length ? next : undefined)}
        />
      </details>
    );
  }
  return (
    <div class={`field${own.length ? ' has-error' : ''}`} data-field={pointer}>
      <label for={id}>
        {name}
        {required && <span class="req" aria-label="required">*</span>}
        {control === 'json' && <span class="muted"> (JSON)</span>}
      </label>
      <Control {...props} control={control} id={id} described={described} invalid={own.length > 0} />
      {help}
      {errorNote}
    </div>
  );
}

function Control(props: FieldProps & { control: string; id: string; described?: string; invalid: boolean }) {
  const { schema, value, onChange, control, id, readOnly } = props;
  const common = { id, 'aria-describedby': props.described, 'aria-invalid': props.invalid || undefined, disabled: readOnly };
  const placeholder = schema.default !== undefined ? `default: ${JSON.stringify(schema.default)}` : '';
  switch (control) {
    case 'string':
      // A secret goes in a password field: the page never shows it (secrets.ts keeps it masked).
      return schema.writeOnly ? (
        <input
          {...common}
          type="password"
          autocomplete="new-password"
          value={value ?? ''}
          onInput={(e) => onChange(e.currentTarget.value === '' ? undefined : e.currentTarget.value)}
        />
      ) : (
        <input
          {...common}
          type="text"
          autocomplete="off"
          value={value ?? ''}
          placeholder={placeholder}
          onInput={(e) => onChange(e.currentTarget.value === '' ? undefined : e.currentTarget.value)}
        />
      );
    case 'integer':
    case 'number':
      return (
        <NumberInput common={common} value={value} integer={control === 'integer'} placeholder={placeholder} onChange={onChange} />
      );
    case 'boolean':
      return (
        <select {...common} value={value === undefined ? '' : String(value)} onChange={(e) => onChange(e.currentTarget.value === '' ? undefined : e.currentTarget.value === 'true')}>
          <option value="">{schema.default !== undefined ? `(default: ${schema.default})` : '(not set)'}</option>
          <option value="true">true</option>
          <option value="false">false</option>
        </select>
      );
    case 'enum':
      return (
        <select
          {...common}
          value={value === undefined ? '' : JSON.stringify(value)}
          onChange={(e) => onChange(e.currentTarget.value === '' ? undefined : JSON.parse(e.currentTarget.value))}
        >
          <option value="">{schema.default !== undefined ? `(default: ${JSON.stringify(schema.default)})` : '(not set)'}</option>
          {(schema.enum as unknown[]).map((option) => (
            <option key={JSON.stringify(option)} value={JSON.stringify(option)}>
              {typeof option === 'string' ? option : JSON.stringify(option)}
            </option>
          ))}
        </select>
      );
    case 'multi': {
      const chosen: unknown[] = Array.isArray(value) ? value : [];
      return (
        <div class="checks" role="group" aria-labelledby={id} id={id}>
          {((schema.items as JsonSchema).enum as unknown[]).map((option) => {
            const checked = chosen.includes(option);
            return (
              <label key={String(option)} class="check">
                <input
                  type="checkbox"
                  disabled={readOnly}
                  checked={checked}
                  onChange={() => {
                    const next = checked ? chosen.filter((o) => o !== option) : [...chosen, option];
                    onChange(next.length ? next : undefined);
                  }}
                />
                {String(option)}
              </label>
            );
          })}
        </div>
      );
    }
    case 'lines':
      return (
        <LinesInput common={common} value={value} onChange={onChange} />
      );
    case 'map':
      return <MapInput common={common} value={value} onChange={onChange} />;
    default:
      return <JsonInput common={common} value={value} onChange={onChange} placeholder={placeholder} />;
  }
}

type Common = Record<string, unknown>;

function NumberInput({ common, value, integer, placeholder, onChange }: { common: Common; value: Value; integer: boolean; placeholder: string; onChange: (v: Value) => void }) {
  const [text, setText] = useState(value === undefined ? '' : String(value));
  useEffect(() => {
    if (Number(text) !== value) setText(value === undefined ? '' : String(value));
  }, [value]);
  return (
    <input
      {...common}
      type="text"
      inputMode={integer ? 'numeric' : 'decimal'}
      value={text}
      placeholder={placeholder}
      onInput={(e) => {
        const raw = e.currentTarget.value;
        setText(raw);
        if (raw.trim() === '') return onChange(undefined);
        const number = Number(raw);
        // Not a number: sent as typed, so the Admin API's error names the field.
        onChange(Number.isFinite(number) ? number : raw);
      }}
    />
  );
}

/** A list of strings, one per line. */
function LinesInput({ common, value, onChange }: { common: Common; value: Value; onChange: (v: Value) => void }) {
  const [text, setText] = useState(Array.isArray(value) ? value.join('\n') : '');
  useEffect(() => {
    const current = text.split('\n').map((l) => l.trim()).filter(Boolean);
    if (JSON.stringify(current) !== JSON.stringify(value ?? [])) setText(Array.isArray(value) ? value.join('\n') : '');
  }, [value]);
  return (
    <textarea
      {...common}
      rows={Math.min(6, Math.max(2, (Array.isArray(value) ? value.length : 0) + 1))}
      placeholder="one per line"
      value={text}
      onInput={(e) => {
        setText(e.currentTarget.value);
        const lines = e.currentTarget.value.split('\n').map((l) => l.trim()).filter(Boolean);
        onChange(lines.length ? lines : undefined);
      }}
    />
  );
}

/** An object of strings, `key=value` per line. */
function MapInput({ common, value, onChange }: { common: Common; value: Value; onChange: (v: Value) => void }) {
  const render = (v: Value) => (v && typeof v === 'object' ? Object.entries(v).map(([k, x]) => `${k}=${String(x)}`).join('\n') : '');
  const [text, setText] = useState(render(value));
  return (
    <textarea
      {...common}
      rows={3}
      placeholder="key=value, one per line"
      value={text}
      onInput={(e) => {
        setText(e.currentTarget.value);
        const entries = e.currentTarget.value
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean)
          .map((l) => {
            const at = l.indexOf('=');
            return at < 0 ? [l, ''] : [l.slice(0, at).trim(), l.slice(at + 1).trim()];
          });
        onChange(entries.length ? Object.fromEntries(entries) : undefined);
      }}
    />
  );
}

export function JsonInput({ common, value, onChange, placeholder, rows }: { common: Common; value: Value; onChange: (v: Value) => void; placeholder?: string; rows?: number }) {
  const show = (v: Value) => (v === undefined ? '' : JSON.stringify(v, null, 2));
  const [text, setText] = useState(show(value));
  const [problem, setProblem] = useState<string>();
  useEffect(() => {
    let same = false;
    try {
      same = text.trim() !== '' && JSON.stringify(JSON.parse(text)) === JSON.stringify(value);
    } catch {
      same = false;
    }
    if (!same && !(text.trim() === '' && value === undefined) && problem === undefined) setText(show(value));
  }, [value]);
  return (
    <>
      <textarea
        {...common}
        class="json"
        spellcheck={false}
        rows={rows ?? Math.min(12, Math.max(2, show(value).split('\n').length))}
        placeholder={placeholder}
        value={text}
        onInput={(e) => {
          const raw = e.currentTarget.value;
          setText(raw);
          if (raw.trim() === '') {
            setProblem(undefined);
            return onChange(undefined);
          }
          try {
            const parsed = JSON.parse(raw);
            setProblem(undefined);
            onChange(parsed);
          } catch (err) {
            setProblem(`not valid JSON: ${(err as Error).message}`);
          }
        }}
      />
      {problem && <p class="field-error">{problem}</p>}
    </>
  );
}
