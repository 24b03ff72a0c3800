package sqlscope

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// parseFast returns the same tree as pg_query.Parse in well under half the
// time, or an error. An error says nothing about the statement: the caller falls
// back to pg_query.Parse, which parses the same text with the same parser.
//
// pg_query.Parse spends most of its time serialising the tree to protobuf
// in C and unmarshalling it in Go, through reflection for every Node. The
// same parser's JSON output costs a fraction of the serialisation, and
// parseFast decodes it straight into the generated pg_query structs, with
// lookup tables built once from the protobuf descriptors. The JSON and
// protobuf outputs are generated in libpg_query from one list of fields,
// with these differences, each handled here:
//
//   - Keys are the fields' JSON names, which are the names libpg_query
//     writes; a Node is written as {"TypeName": {...}}, whose key is the
//     JSON name of the member of Node's oneof. Enums are written by name.
//   - An Integer is written without its value when the value is zero or
//     negative. Outside an A_Const that is ambiguous and parseFast fails.
//     Inside an A_Const it is zero if the constant's location points at a
//     digit of the text: the grammar gives an integer constant a digit's
//     location only when it is an unsigned integer literal at that place (a
//     negated constant carries the location of its minus sign, and constants
//     the grammar makes up carry a keyword's location or -1). Otherwise
//     parseFast fails.
//   - Bitmapsets omit member 0 and doubles are printed with six decimals;
//     neither occurs in a raw parse tree, and parseFast fails on both.
//   - Integer and OID lists hold bare numbers in JSON; parseFast fails.
//
// Anything else it does not recognise (a key, a kind of value, an enum
// name, a repeated key, two members of a oneof, JSON libpg_query does not
// write) makes parseFast fail rather than guess. Like proto.Unmarshal, it
// fails on a string that is not UTF-8 and on messages nested more than
// protowire.DefaultRecursionLimit deep.
func parseFast(sql string) (*pg_query.ParseResult, error) {
	t, err := loadTables()
	if err != nil {
		return nil, err
	}
	js, err := pg_query.ParseToJSON(sql)
	if err != nil {
		return nil, err
	}
	// The parser sees the text up to its first NUL byte (it is handed over
	// as a C string); locations are byte offsets into that.
	if i := strings.IndexByte(sql, 0); i >= 0 {
		sql = sql[:i]
	}
	tree := &pg_query.ParseResult{}
	d := decoder{js: js, src: sql}
	if err := d.message(unsafe.Pointer(tree), t.result); err != nil {
		return nil, fmt.Errorf("sqlscope: fast parse at byte %d: %w", d.pos, err)
	}
	if d.pos != len(js) {
		return nil, fmt.Errorf("sqlscope: fast parse: data after the parse tree at byte %d", d.pos)
	}
	if tree.Version != jsonFormatVersion {
		return nil, fmt.Errorf("sqlscope: fast parse: parser version %d, decoder verified against %d", tree.Version, jsonFormatVersion)
	}
	return tree, nil
}

// jsonFormatVersion is the PostgreSQL version of the libpg_query release
// (16-5.1.0, in pg_query_go v5.1.0) whose JSON output parseFast was checked
// against, field by field and enum by enum, and whose grammar the A_Const
// rule above was read from. Another release may write its JSON or build
// its constants differently, so parseFast refuses it.
const jsonFormatVersion = 160001

var (
	errAmbiguousInt = errors.New("integer written without its value")
	errSyntax       = errors.New("unexpected JSON")
	errDepth        = errors.New("exceeded maximum recursion depth")
)

// msgType is what the decoder knows of one message type: its generated Go
// struct and its fields by JSON name.
type msgType struct {
	name   protoreflect.FullName
	typ    reflect.Type // the generated struct
	fields map[string]*field
	// order holds the fields in the order the .proto declares them, which
	// is the order libpg_query writes them in; looking for the next key
	// after the last one found is cheaper than hashing it.
	order  []namedField
	aConst bool  // *pg_query.A_Const, checked once decoded
	node   bool  // *pg_query.Node
	err    error // set if the type cannot be decoded
}

type namedField struct {
	name string
	f    *field
}

// lookup finds the field named key, looking first from position i of
// order; it returns the position after the field found.
func (mt *msgType) lookup(key string, i int) (*field, int) {
	for j := i; j < len(mt.order); j++ {
		if mt.order[j].name == key {
			return mt.order[j].f, j + 1
		}
	}
	return mt.fields[key], i
}

type fieldKind uint8

const (
	kindInt32 fieldKind = iota + 1
	kindEnum
	kindUint32
	kindInt64
	kindUint64
	kindBool
	kindString
	kindMessage     // *T
	kindMessageList // []*T
	kindNode        // *pg_query.Node
	kindNodeList    // []*pg_query.Node
	kindOneof       // an interface holding *Wrapper{Field *T}
)

// field is one field of a message and where it lives in the Go struct.
type field struct {
	kind fieldKind
	off  uintptr // of the field, or of the oneof's interface
	// bit marks the field, or every member of a oneof, in a mask of the
	// fields seen, to refuse a repeated key or a second member.
	bit  uint64
	msg  *msgType         // message fields
	enum map[string]int32 // enum fields, by value name
	// Oneof members: where the wrapper holds the message, and the
	// interface's type word for the wrapper. A member is allocated with
	// its wrapper as one pair {W, M}, and a Node with its member as one
	// triple {N, W, M}, so that a Node costs one allocation, not three.
	wrapOff          uintptr
	itab             unsafe.Pointer
	pair, triple     reflect.Type
	pairM            uintptr
	tripleW, tripleM uintptr
	// zeroInt: an Integer whose value is absent cannot be told apart
	// from a negative one here; refuse it.
	zeroInt bool
	err     error // set if the field cannot be decoded
}

// iface is the layout of a non-empty interface value.
type iface struct {
	tab  unsafe.Pointer
	data unsafe.Pointer
}

type tables struct {
	result *msgType // ParseResult
}

// loadTables builds the decoding tables once; they never change after.
var loadTables = sync.OnceValues(func() (*tables, error) {
	t, err := buildTables()
	if err != nil {
		return nil, fmt.Errorf("sqlscope: fast parse: %w", err)
	}
	return t, nil
})

func buildTables() (*tables, error) {
	file := (&pg_query.ParseResult{}).ProtoReflect().Descriptor().ParentFile()
	msgs := file.Messages()
	types := make(map[protoreflect.FullName]*msgType, msgs.Len())
	nodeType := reflect.TypeOf(pg_query.Node{})
	for i := 0; i < msgs.Len(); i++ {
		md := msgs.Get(i)
		mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
		if err != nil {
			return nil, err
		}
		typ := reflect.TypeOf(mt.Zero().Interface())
		if typ.Kind() != reflect.Pointer || typ.Elem().Kind() != reflect.Struct {
			return nil, fmt.Errorf("%s is not a generated struct", md.FullName())
		}
		types[md.FullName()] = &msgType{name: md.FullName(), typ: typ.Elem(),
			aConst: typ.Elem() == reflect.TypeOf(pg_query.A_Const{}), node: typ.Elem() == nodeType}
	}
	for i := 0; i < msgs.Len(); i++ {
		md := msgs.Get(i)
		if err := fillFields(types[md.FullName()], md, types); err != nil {
			return nil, err
		}
	}
	result := types[(&pg_query.ParseResult{}).ProtoReflect().Descriptor().FullName()]
	if result == nil || result.typ != reflect.TypeOf(pg_query.ParseResult{}) {
		return nil, errors.New("no ParseResult")
	}
	return &tables{result: result}, nil
}

// fillFields maps the message's fields, by JSON name, to where they live
// in its Go struct, checking that each has the Go type its kind implies.
func fillFields(mt *msgType, md protoreflect.MessageDescriptor, types map[protoreflect.FullName]*msgType) error {
	byNumber := map[protowire.Number]reflect.StructField{}
	byOneof := map[protoreflect.Name]reflect.StructField{}
	for i := 0; i < mt.typ.NumField(); i++ {
		sf := mt.typ.Field(i)
		if tag, ok := sf.Tag.Lookup("protobuf"); ok {
			parts := strings.Split(tag, ",")
			if len(parts) < 2 {
				return fmt.Errorf("%s.%s: tag %q", mt.name, sf.Name, tag)
			}
			n, err := strconv.Atoi(parts[1])
			if err != nil {
				return fmt.Errorf("%s.%s: tag %q", mt.name, sf.Name, tag)
			}
			byNumber[protowire.Number(n)] = sf
		}
		if name, ok := sf.Tag.Lookup("protobuf_oneof"); ok {
			byOneof[protoreflect.Name(name)] = sf
		}
	}
	fields := md.Fields()
	mt.fields = make(map[string]*field, fields.Len())
	bits := map[protoreflect.FullName]uint64{}
	for j := 0; j < fields.Len(); j++ {
		fd := fields.Get(j)
		f := &field{}
		mt.fields[fd.JSONName()] = f
		mt.order = append(mt.order, namedField{fd.JSONName(), f})
		// A oneof takes one bit for all its members.
		slot := fd.FullName()
		if od := fd.ContainingOneof(); od != nil {
			slot = od.FullName()
		}
		if _, ok := bits[slot]; !ok {
			bits[slot] = 1 << len(bits)
		}
		if f.bit = bits[slot]; f.bit == 0 {
			mt.err = fmt.Errorf("%s has more than 64 fields", mt.name)
		}
		if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
			f.msg = types[fd.Message().FullName()]
			if f.msg == nil {
				f.err = fmt.Errorf("%s of foreign type %s", fd.FullName(), fd.Message().FullName())
				continue
			}
			f.zeroInt = f.msg.typ == reflect.TypeOf(pg_query.Integer{}) && !mt.aConst
		}
		if od := fd.ContainingOneof(); od != nil {
			sf, ok := byOneof[od.Name()]
			if !ok || sf.Type.Kind() != reflect.Interface || f.msg == nil || fd.IsList() {
				f.err = fmt.Errorf("oneof member %s", fd.FullName())
				continue
			}
			if err := fillOneof(f, mt, fd, sf); err != nil {
				return err
			}
			continue
		}
		sf, ok := byNumber[fd.Number()]
		if !ok {
			f.err = fmt.Errorf("no Go field for %s", fd.FullName())
			continue
		}
		f.off = sf.Offset
		want := reflect.Kind(0)
		switch {
		case fd.IsMap() || fd.IsExtension():
		case fd.IsList():
			if f.msg != nil && sf.Type == reflect.SliceOf(reflect.PointerTo(f.msg.typ)) {
				f.kind, want = kindMessageList, reflect.Slice
				if f.msg.node {
					f.kind = kindNodeList
				}
			}
			// Repeated scalars are bitmapsets, written without member 0.
		case f.msg != nil:
			f.kind, want = kindMessage, reflect.Pointer
			if f.msg.node {
				f.kind = kindNode
			}
			if sf.Type != reflect.PointerTo(f.msg.typ) {
				want = 0
			}
		case fd.Kind() == protoreflect.EnumKind:
			f.kind, want = kindEnum, reflect.Int32
			vals := fd.Enum().Values()
			f.enum = make(map[string]int32, vals.Len())
			for k := 0; k < vals.Len(); k++ {
				f.enum[string(vals.Get(k).Name())] = int32(vals.Get(k).Number())
			}
		case fd.Kind() == protoreflect.Int32Kind:
			f.kind, want = kindInt32, reflect.Int32
		case fd.Kind() == protoreflect.Uint32Kind:
			f.kind, want = kindUint32, reflect.Uint32
		case fd.Kind() == protoreflect.Int64Kind:
			f.kind, want = kindInt64, reflect.Int64
		case fd.Kind() == protoreflect.Uint64Kind:
			f.kind, want = kindUint64, reflect.Uint64
		case fd.Kind() == protoreflect.BoolKind:
			f.kind, want = kindBool, reflect.Bool
		case fd.Kind() == protoreflect.StringKind:
			f.kind, want = kindString, reflect.String
		}
		if want == 0 || sf.Type.Kind() != want {
			f.kind = 0
			f.err = fmt.Errorf("field %s of kind %s (Go %s) is not decoded", fd.FullName(), fd.Kind(), sf.Type)
		}
	}
	return nil
}

// fillOneof finds the wrapper type of one oneof member and the interface
// type word that goes with it, by setting the member once through
// protoreflect, then checks that setting it the decoder's way reads back
// the same through protoreflect.
func fillOneof(f *field, mt *msgType, fd protoreflect.FieldDescriptor, sf reflect.StructField) error {
	pv := reflect.New(mt.typ)
	m := pv.Interface().(protoreflect.ProtoMessage).ProtoReflect()
	m.Set(fd, m.NewField(fd))
	v := pv.Elem().FieldByIndex(sf.Index)
	w := v.Elem().Type()
	if v.IsNil() || w.Kind() != reflect.Pointer || w.Elem().Kind() != reflect.Struct || w.Elem().NumField() != 1 ||
		w.Elem().Field(0).Type != reflect.PointerTo(f.msg.typ) {
		return fmt.Errorf("oneof member %s: wrapper %s", fd.FullName(), w)
	}
	f.kind = kindOneof
	f.off = sf.Offset
	f.wrapOff = w.Elem().Field(0).Offset
	f.itab = (*iface)(unsafe.Pointer(v.UnsafeAddr())).tab
	f.pair = reflect.StructOf([]reflect.StructField{{Name: "W", Type: w.Elem()}, {Name: "M", Type: f.msg.typ}})
	f.pairM = f.pair.Field(1).Offset
	if mt.node {
		f.triple = reflect.StructOf([]reflect.StructField{{Name: "N", Type: mt.typ}, {Name: "W", Type: w.Elem()}, {Name: "M", Type: f.msg.typ}})
		f.tripleW, f.tripleM = f.triple.Field(1).Offset, f.triple.Field(2).Offset
	}

	check := func(p, sub unsafe.Pointer) error {
		got := reflect.NewAt(mt.typ, p).Interface().(protoreflect.ProtoMessage).ProtoReflect()
		if got.WhichOneof(fd.ContainingOneof()) != fd || got.Get(fd).Message().Interface() != reflect.NewAt(f.msg.typ, sub).Interface() {
			return fmt.Errorf("oneof member %s does not read back", fd.FullName())
		}
		return nil
	}
	p := reflect.New(mt.typ).UnsafePointer()
	if err := check(p, f.setOneof(p)); err != nil {
		return err
	}
	if mt.node {
		if err := check(f.newNode()); err != nil {
			return err
		}
	}
	return nil
}

// setOneof sets the oneof member f of the message at p to a new message,
// which it returns.
func (f *field) setOneof(p unsafe.Pointer) unsafe.Pointer {
	b := reflect.New(f.pair).UnsafePointer()
	m := unsafe.Add(b, f.pairM)
	f.place(p, b, m)
	return m
}

// newNode returns a new Node whose member f is set, and the member.
func (f *field) newNode() (n, m unsafe.Pointer) {
	n = reflect.New(f.triple).UnsafePointer()
	m = unsafe.Add(n, f.tripleM)
	f.place(n, unsafe.Add(n, f.tripleW), m)
	return n, m
}

// place sets the oneof member f of the message at p to the wrapper at w
// holding the message at m.
func (f *field) place(p, w, m unsafe.Pointer) {
	*(*unsafe.Pointer)(unsafe.Add(w, f.wrapOff)) = m
	*(*iface)(unsafe.Add(p, f.off)) = iface{tab: f.itab, data: w}
}

// decoder reads libpg_query's JSON, which has no whitespace, from js.
type decoder struct {
	js    string
	pos   int
	src   string // the text the parser saw, to place A_Const locations
	depth int    // messages entered, counted as proto.Unmarshal counts them
	stack []unsafe.Pointer
}

// message decodes one JSON object into the message of type mt at p.
func (d *decoder) message(p unsafe.Pointer, mt *msgType) error {
	if mt.err != nil {
		return mt.err
	}
	if d.depth++; d.depth > protowire.DefaultRecursionLimit {
		return errDepth
	}
	if !d.next('{') {
		return errSyntax
	}
	var seen uint64
	if !d.next('}') {
		for i := 0; ; {
			key, err := d.key()
			if err != nil {
				return err
			}
			var f *field
			f, i = mt.lookup(key, i)
			if f == nil {
				return fmt.Errorf("unknown field %q in %s", key, mt.name)
			}
			if seen&f.bit != 0 {
				return fmt.Errorf("field %q repeated in %s", key, mt.name)
			}
			seen |= f.bit
			if err := d.field(p, f); err != nil {
				return err
			}
			if d.next(',') {
				continue
			}
			if d.next('}') {
				break
			}
			return errSyntax
		}
	}
	if mt.aConst {
		if err := d.aConst((*pg_query.A_Const)(p)); err != nil {
			return err
		}
	}
	d.depth--
	return nil
}

// aConst checks an integer constant written without its value, which is
// zero or negative: it is taken as zero only where the text shows an
// unsigned literal (see parseFast).
func (d *decoder) aConst(c *pg_query.A_Const) error {
	iv, ok := c.Val.(*pg_query.A_Const_Ival)
	if !ok || iv.Ival.Ival != 0 {
		return nil
	}
	loc := int(c.Location)
	if loc < 0 || loc >= len(d.src) || d.src[loc] < '0' || d.src[loc] > '9' {
		return errAmbiguousInt
	}
	return nil
}

// field decodes the value of field f of the message at p.
func (d *decoder) field(p unsafe.Pointer, f *field) error {
	at := unsafe.Add(p, f.off)
	switch f.kind {
	case kindMessage:
		sub := reflect.New(f.msg.typ).UnsafePointer()
		*(*unsafe.Pointer)(at) = sub
		return d.subMessage(sub, f)
	case kindOneof:
		return d.subMessage(f.setOneof(p), f)
	case kindNode:
		n, err := d.node(f.msg)
		*(*unsafe.Pointer)(at) = n
		return err
	case kindNodeList, kindMessageList:
		if !d.next('[') {
			return errSyntax
		}
		if d.next(']') {
			return nil
		}
		// Elements gather on d.stack (nested lists above them) until the
		// list's length is known, to allocate it once.
		start := len(d.stack)
		for {
			var sub unsafe.Pointer
			var err error
			if f.kind == kindNodeList {
				sub, err = d.node(f.msg)
			} else {
				sub = reflect.New(f.msg.typ).UnsafePointer()
				err = d.subMessage(sub, f)
			}
			if err != nil {
				return err
			}
			d.stack = append(d.stack, sub)
			if d.next(',') {
				continue
			}
			if d.next(']') {
				break
			}
			return errSyntax
		}
		*(*[]unsafe.Pointer)(at) = append([]unsafe.Pointer(nil), d.stack[start:]...)
		clear(d.stack[start:])
		d.stack = d.stack[:start]
	case kindString:
		s, err := d.string()
		if err != nil {
			return err
		}
		*(*string)(at) = s
	case kindEnum:
		s, err := d.string()
		if err != nil {
			return err
		}
		n, ok := f.enum[s]
		if !ok {
			return fmt.Errorf("unknown enum value %q", s)
		}
		*(*int32)(at) = n
	case kindBool:
		switch {
		case strings.HasPrefix(d.js[d.pos:], "true"):
			d.pos += 4
			*(*bool)(at) = true
		case strings.HasPrefix(d.js[d.pos:], "false"):
			d.pos += 5
			*(*bool)(at) = false
		default:
			return errSyntax
		}
	case kindInt32:
		n, err := d.integer(-1<<31, 1<<31-1)
		if err != nil {
			return err
		}
		*(*int32)(at) = int32(n)
	case kindInt64:
		n, err := d.integer(-1<<63, 1<<63-1)
		if err != nil {
			return err
		}
		*(*int64)(at) = n
	case kindUint32:
		n, err := d.unsigned(1<<32 - 1)
		if err != nil {
			return err
		}
		*(*uint32)(at) = uint32(n)
	case kindUint64:
		n, err := d.unsigned(1<<64 - 1)
		if err != nil {
			return err
		}
		*(*uint64)(at) = n
	default:
		if f.err != nil {
			return f.err
		}
		return errors.New("field not decoded")
	}
	return nil
}

// node decodes a Node of type nt, {} or {"TypeName": {...}}, allocating
// it with its member once the member's type is known.
func (d *decoder) node(nt *msgType) (unsafe.Pointer, error) {
	if nt.err != nil {
		return nil, nt.err
	}
	if d.depth++; d.depth > protowire.DefaultRecursionLimit {
		return nil, errDepth
	}
	if !d.next('{') {
		return nil, errSyntax
	}
	if d.next('}') {
		d.depth--
		return reflect.New(nt.typ).UnsafePointer(), nil
	}
	key, err := d.key()
	if err != nil {
		return nil, err
	}
	f := nt.fields[key]
	if f == nil {
		return nil, fmt.Errorf("unknown node type %q", key)
	}
	if f.kind != kindOneof {
		return nil, f.err
	}
	n, m := f.newNode()
	if err := d.subMessage(m, f); err != nil {
		return nil, err
	}
	if !d.next('}') {
		return nil, errSyntax
	}
	d.depth--
	return n, nil
}

// subMessage decodes a message held by field f.
func (d *decoder) subMessage(sub unsafe.Pointer, f *field) error {
	if err := d.message(sub, f.msg); err != nil {
		return err
	}
	if f.zeroInt && (*pg_query.Integer)(sub).Ival == 0 {
		return errAmbiguousInt
	}
	return nil
}

// next consumes c if it is the next byte.
func (d *decoder) next(c byte) bool {
	if d.pos < len(d.js) && d.js[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

// key reads "name": where name has no escapes (no field name needs one).
func (d *decoder) key() (string, error) {
	if !d.next('"') {
		return "", errSyntax
	}
	start := d.pos
	for d.pos < len(d.js) {
		switch d.js[d.pos] {
		case '"':
			k := d.js[start:d.pos]
			d.pos++
			if !d.next(':') {
				return "", errSyntax
			}
			return k, nil
		case '\\':
			return "", errSyntax
		}
		d.pos++
	}
	return "", errSyntax
}

// string reads a JSON string, copying it so the tree does not keep the
// whole JSON text alive. It must be valid UTF-8, as proto.Unmarshal
// requires of string fields.
func (d *decoder) string() (string, error) {
	if !d.next('"') {
		return "", errSyntax
	}
	start := d.pos
	for d.pos < len(d.js) {
		c := d.js[d.pos]
		switch {
		case c == '"':
			s := d.js[start:d.pos]
			d.pos++
			if !utf8.ValidString(s) {
				return "", errors.New("string is not valid UTF-8")
			}
			return strings.Clone(s), nil
		case c == '\\':
			return d.escapedString(start)
		case c < 0x20:
			return "", errSyntax
		}
		d.pos++
	}
	return "", errSyntax
}

// escapedString finishes reading a string holding escapes. libpg_query
// writes \b \f \n \r \t \" \\ and \u00XX (for other control characters
// and < >); nothing else is accepted.
func (d *decoder) escapedString(start int) (string, error) {
	var b strings.Builder
	b.WriteString(d.js[start:d.pos])
	for d.pos < len(d.js) {
		c := d.js[d.pos]
		switch {
		case c == '"':
			d.pos++
			s := b.String()
			if !utf8.ValidString(s) {
				return "", errors.New("string is not valid UTF-8")
			}
			return s, nil
		case c < 0x20:
			return "", errSyntax
		case c != '\\':
			b.WriteByte(c)
			d.pos++
			continue
		}
		if d.pos+1 >= len(d.js) {
			return "", errSyntax
		}
		e := d.js[d.pos+1]
		d.pos += 2
		switch e {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case '"', '\\':
			b.WriteByte(e)
		case 'u':
			if d.pos+4 > len(d.js) || d.js[d.pos:d.pos+2] != "00" {
				return "", errSyntax
			}
			hi, ok1 := hexDigit(d.js[d.pos+2])
			lo, ok2 := hexDigit(d.js[d.pos+3])
			if !ok1 || !ok2 {
				return "", errSyntax
			}
			r := hi<<4 | lo
			if r == 0 || r >= 0x80 {
				return "", errSyntax
			}
			b.WriteByte(r)
			d.pos += 4
		default:
			return "", errSyntax
		}
	}
	return "", errSyntax
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// integer reads a JSON integer (no fraction or exponent) within [lo, hi].
func (d *decoder) integer(lo, hi int64) (int64, error) {
	neg := d.next('-')
	limit := uint64(hi)
	if neg {
		limit = uint64(-(lo + 1)) + 1
	}
	u, err := d.unsigned(limit)
	if err != nil {
		return 0, err
	}
	if neg {
		if u == 0 {
			return 0, errSyntax // -0 is never written
		}
		return -int64(u-1) - 1, nil
	}
	return int64(u), nil
}

// unsigned reads digits without a sign, leading zeros, fraction or
// exponent, up to limit.
func (d *decoder) unsigned(limit uint64) (uint64, error) {
	start := d.pos
	var n uint64
	for d.pos < len(d.js) && d.js[d.pos] >= '0' && d.js[d.pos] <= '9' {
		c := uint64(d.js[d.pos] - '0')
		if n > (limit-c)/10 {
			return 0, errors.New("integer out of range")
		}
		n = n*10 + c
		d.pos++
	}
	if d.pos == start || (d.js[start] == '0' && d.pos-start > 1) {
		return 0, errSyntax
	}
	if d.pos < len(d.js) && (d.js[d.pos] == '.' || d.js[d.pos] == 'e' || d.js[d.pos] == 'E') {
		return 0, errSyntax
	}
	return n, nil
}
