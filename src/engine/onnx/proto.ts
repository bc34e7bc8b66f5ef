/**
 * ONNX protobuf messages through protobufjs and the ONNX schema (src/engine/onnx/onnx.proto, compiled
 * into ./schema.ts). Only the fields this project writes are typed here; field names are onnx.proto's.
 */
import protobuf from 'protobufjs';
import { ONNX_SCHEMA, SCHEMA_IR_VERSION } from './schema.js';

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;
/** AttributeProto.AttributeType values used here. */
export const AttrType = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

export interface TensorProto {
  name: string;
  dims: number[];
  data_type: number;
  /** little-endian element bytes */
  raw_data: Uint8Array;
  doc_string?: string;
}

export interface AttributeProto {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  ints?: number[];
}

export interface NodeProto {
  name: string;
  op_type: string;
  input: string[];
  output: string[];
  attribute: AttributeProto[];
  doc_string?: string;
}

export interface Dim {
  dim_value?: number;
  dim_param?: string;
}

export interface ValueInfoProto {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim: Dim[] } } };
  doc_string?: string;
}

export interface GraphProto {
  name: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  doc_string?: string;
}

export interface ModelProto {
  ir_version: number;
  opset_import: Array<{ domain: string; version: number }>;
  producer_name: string;
  producer_version: string;
  doc_string: string;
  graph: GraphProto;
  metadata_props: Array<{ key: string; value: string }>;
}

export { SCHEMA_IR_VERSION };

let modelType: protobuf.Type | undefined;

function modelProto(): protobuf.Type {
  modelType ??= protobuf.Root.fromJSON(ONNX_SCHEMA).lookupType('onnx.ModelProto');
  return modelType;
}

/** Serialise a model (checked against the schema first). */
export function encodeModel(m: ModelProto): Uint8Array {
  const T = modelProto();
  const err = T.verify(m);
  if (err) throw new Error(`ONNX ModelProto: ${err}`);
  return T.encode(T.fromObject(m)).finish();
}

/** Parse a serialised model; int64 fields as numbers, bytes as Uint8Array. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  const T = modelProto();
  return T.toObject(T.decode(bytes), { longs: Number, defaults: false, arrays: true }) as ModelProto;
}
